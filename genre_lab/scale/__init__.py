"""The course's pipeline on Ray: features of many files with Ray Data, training with Ray Train.

Ray is optional (``pip install genre-lab[scale]``): nothing else in the package imports this
module. :func:`start` runs Ray locally with N worker processes by default, or joins a
cluster with ``address=...``; :func:`featurize` and :func:`train` are the same code either
way (on a cluster, the input paths and ``out`` must be on a filesystem every node sees).

* :func:`featurize`: a track table -> decode (:func:`genre_lab.audio.load`) -> the course's
  segments and features (:func:`genre_lab.features.segments.signal_features`, one
  :class:`~genre_lab.config.FeatureSettings`: the same numbers as
  :func:`~genre_lab.features.segments.segment_features`), or chapter 9's musicnn embeddings
  -> Parquet, one row per segment (``track_id``, ``segment``, ``label``, ``features``). A
  file that cannot be decoded is skipped and reported, not fatal.
* :func:`train`: a course model trained with ``ray.train.torch.TorchTrainer`` (DDP, gloo on
  CPU) from those Parquet files.

Modules: :mod:`~genre_lab.scale.ray_data` (Ray Data) and :mod:`~genre_lab.scale.ray_train`
(Ray Train). Notebook: 10-scaling-with-ray (appendix).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import warnings
from pathlib import Path

from .ray_data import KINDS, Featurized, featurize, read_segments
from .ray_train import train

__all__ = ["KINDS", "Featurized", "RayStartError", "featurize", "read_segments", "start", "train"]

#: Ray (2.60) gives its raylet 30 s to register, a limit written into its code: the raylet
#: waits for its dashboard agent, a Python process, to come up first. On 2 cores that took
#: 5 s idle, 22 s beside 8 busy processes and over 30 s beside 16 (benchmarks/scale.md), so
#: a busy machine can miss the limit; a later try, once a spike has passed, often makes it.
START_ATTEMPTS = 3


class RayStartError(RuntimeError):
    """Ray's processes did not start in time (a busy machine), or Ray could not start."""


def start(address: str | None = None, *, workers: int = 2, object_store_mb: int = 512,
          attempts: int = START_ATTEMPTS, **kwargs):
    """Start Ray locally with ``workers`` CPUs (or join the cluster at ``address``).

    Locally the driver's environment (``PYTHONPATH``, ``GENRE_LAB_*``) reaches the workers,
    which Ray starts as child processes. On a cluster (``address="auto"`` on one of its
    nodes, or ``"HEAD:6379"`` from one) the workers were started by ``ray start``, with that
    environment: this driver's copy of ``genre_lab`` is shipped to them (Ray's runtime
    environment, ``py_modules``), so they run the same code; the libraries it needs (torch,
    librosa, ...) must be installed on every node, and a cluster with token authentication
    wants ``RAY_AUTH_MODE=token`` and its ``RAY_AUTH_TOKEN`` in this process's environment
    (tests/test_scale.py joins a ``ray start --head`` cluster so). Returns ``ray.init``'s
    context; already started, Ray is left as it is.

    A local start that misses Ray's start-up limit (a busy machine: see
    :data:`START_ATTEMPTS`) is cleaned up and tried again, up to ``attempts`` times; then
    :class:`RayStartError` says why in one line.
    """
    import ray
    import ray.data

    if ray.is_initialized():
        return ray.get_runtime_context()
    import logging

    kwargs.setdefault("logging_level", logging.WARNING)  # no INFO lines in notebooks
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # Two notices that are not warnings here: a local Ray turns token authentication on
    # (good; it says so), and Ray Data says that we turned its progress bars off.
    for name in ("ray._private.authentication.authentication_token_setup",
                 "ray.data._internal.progress"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    if address is None:
        kwargs.setdefault("num_cpus", workers)
        kwargs.setdefault("object_store_memory", object_store_mb * 2**20)
    else:
        import genre_lab

        kwargs.setdefault("runtime_env", {"py_modules": [genre_lab]})
    for attempt in range(1, attempts + 1):
        before = _ray_children()
        try:
            return ray.init(address=address, include_dashboard=False, log_to_driver=False,
                            **kwargs)
        except Exception as error:  # Ray's start-up timeout is a bare Exception
            if not _missed_start_up(error):
                raise
            ray.shutdown()
            # a failed ray.init leaves its GCS and monitors running: stop what this try began
            _stop(_ray_children() - before)
            if attempt == attempts:
                load = os.getloadavg()[0]
                raise RayStartError(
                    f"Ray did not start: its processes missed Ray's start-up limit {attempts} "
                    f"times (load average {load:.1f} on {os.cpu_count()} CPUs: other programs "
                    "are busy). Let them finish or close other notebooks, then run this "
                    "again.") from None
            warnings.warn(f"Ray missed its start-up limit (try {attempt} of {attempts}; load "
                          f"average {os.getloadavg()[0]:.1f}): trying again", RuntimeWarning,
                          stacklevel=2)
            time.sleep(5 * attempt)  # let the load pass


def _ray_children() -> set[int]:
    """This process's child processes that run Ray's programs (read from Linux's /proc;
    elsewhere none are found, and a failed try's processes end with this process)."""
    me, found = os.getpid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == me and b"/ray/" in (stat.parent / "cmdline").read_bytes():
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


def _stop(pids: set[int], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still there after ``grace`` seconds."""
    for signal_ in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal_)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = {pid for pid in pids if _alive(pid)}
            time.sleep(0.2)
        if not pids:
            return


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # reap our own child
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _missed_start_up(error: BaseException) -> bool:
    """Ray's ways of saying that its processes did not come up in time (Ray 2.60)."""
    text = str(error)
    return isinstance(error, TimeoutError) or "timed out during startup" in text or \
        "waiting for node to startup" in text
