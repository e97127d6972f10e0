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

from .ray_data import KINDS, Featurized, featurize, read_segments
from .ray_train import train

__all__ = ["KINDS", "Featurized", "featurize", "read_segments", "start", "train"]


def start(address: str | None = None, *, workers: int = 2, object_store_mb: int = 512, **kwargs):
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
    return ray.init(address=address, include_dashboard=False, log_to_driver=False, **kwargs)
