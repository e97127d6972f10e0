"""Segment features of many files with Ray Data, written as Parquet (one row per segment).

Notebook: 10-scaling-with-ray (appendix).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import audio, config
from ..config import FeatureSettings

#: What :func:`featurize` can write per segment: the course's log-mel or MFCC, or a
#: musicnn embedding (chapter 9; its own 16-kHz, 2.99-s segments).
KINDS = ("logmel", "mfcc", "musicnn")
SEGMENTS, SKIPPED = "segments", "skipped"


_MODELS: dict = {}  # per worker process: musicnn, loaded once


class _SegmentRows:
    """Ray Data UDF: a batch of tracks -> one row per segment (runs in a worker process).

    Undecodable tracks give no rows; their reason goes to ``skipped/<track_id>.json`` (a
    retried task writes the same file again: idempotent). Each try at a track is counted in
    ``skipped/<track_id>.attempts`` until it ends, so the try after ``max_attempts`` dead
    workers skips the track instead of killing another.
    """

    def __init__(self, kind: str, settings: FeatureSettings, skipped: str, layer: str,
                 max_attempts: int, crash_on: tuple[str, int] | None = None):
        self.kind, self.settings, self.skipped, self.layer = kind, settings, skipped, layer
        self.max_attempts, self.crash_on = max_attempts, crash_on

    def _skip(self, track_id, path, error: str) -> None:
        note = Path(self.skipped) / f"{track_id}.json"
        note.write_text(json.dumps({"track_id": str(track_id), "path": str(path), "error": error}))

    def _attempt(self, track_id) -> tuple[int, Path]:
        """Count a try at this track in ``skipped/<track_id>.attempts``; the file stays only
        while a try is under way, so a count above one means earlier workers died on it."""
        marker = Path(self.skipped) / f"{track_id}.attempts"
        n = int(marker.read_text()) + 1 if marker.exists() else 1
        marker.write_text(str(n))
        return n, marker

    def _features(self, path) -> np.ndarray:
        if self.kind == "musicnn":
            from ..pretrained import transfer

            if "musicnn" not in _MODELS:
                _MODELS["musicnn"] = transfer.load_model("MSD_musicnn")
            y = audio.load(path, sr=transfer.SETTINGS.sample_rate)
            segments = audio.segment(y, sr=transfer.SETTINGS.sample_rate,
                                     seconds=transfer.SEGMENT_SECONDS)
            return transfer.embed_segments(_MODELS["musicnn"], segments, [self.layer])[self.layer]
        from ..features.segments import signal_features

        y = audio.load(path, sr=self.settings.sample_rate)
        return signal_features(y, self.settings)[self.kind]

    def __call__(self, batch: dict) -> dict:
        import torch

        torch.set_num_threads(1)  # one CPU per Ray task
        ids, segs, labels, feats = [], [], [], []
        for path, track_id, label in zip(batch["path"], batch["track_id"], batch["label"],
                                         strict=True):
            attempt, marker = self._attempt(track_id)
            if attempt > self.max_attempts:  # a file that kills the decoder: give it up
                self._skip(track_id, path, f"{path}: a worker process died on this file "
                           f"{self.max_attempts} times (crashed decoder?)")
                marker.unlink()
                continue
            if self.crash_on and track_id == self.crash_on[0] and attempt <= self.crash_on[1]:
                (Path(self.skipped) / f"{track_id}.crash-{attempt}").touch()  # the evidence
                os._exit(1)  # tests only: the worker dies mid-job, on this track
            try:
                x = self._features(path)
            except (audio.AudioError, FileNotFoundError) as err:
                self._skip(track_id, path, str(err))
                marker.unlink()
                continue
            marker.unlink()
            ids += [str(track_id)] * len(x)
            segs.append(np.arange(len(x)))
            labels += [int(label)] * len(x)
            feats.append(x.astype(np.float32))
        if not feats:
            return {"track_id": np.zeros(0, str), "segment": np.zeros(0, np.int64),
                    "label": np.zeros(0, np.int64),
                    "features": np.zeros((0, *self._shape()), np.float32)}
        return {"track_id": np.asarray(ids), "segment": np.concatenate(segs).astype(np.int64),
                "label": np.asarray(labels, np.int64), "features": np.concatenate(feats)}

    def _shape(self) -> tuple[int, ...]:
        if self.kind == "musicnn":
            return (753 if "pool" in self.layer else 200 if self.layer == "penultimate" else 50,)
        rows = self.settings.n_mels if self.kind == "logmel" else self.settings.n_mfcc
        return (rows, self.settings.n_frames)


@dataclass
class Featurized:
    """What :func:`featurize` wrote: ``out/segments/*.parquet`` and the skipped files."""

    path: Path
    skipped: list[dict]
    tracks: int

    @property
    def segments_path(self) -> Path:
        return self.path / SEGMENTS


def featurize(tracks, out, *, kind: str = "logmel", settings: FeatureSettings | None = None,
              layer: str = "max_pool", tracks_per_task: int = 8, max_attempts: int = 3,
              _crash_on: tuple[str, int] | None = None) -> Featurized:
    """Segment features of every track of ``tracks``, computed by Ray Data, as Parquet.

    Args:
        tracks: a track table: ``track_id``, ``path`` and ``label`` (or ``genre``) columns.
        out: output folder (created; an earlier job's ``segments``/``skipped`` files in it
            are refused, never overwritten).
        kind: ``"logmel"`` or ``"mfcc"`` (``settings``, default the profile's), or
            ``"musicnn"``: chapter 9's embedding (``layer``) of each musicnn segment.
        tracks_per_task: tracks per Ray task (a block); a retried task redoes this many.
        max_attempts: a track on which this many worker processes died (a decoder that
            crashes the process, not a Python error) is then skipped and reported.

    As many tasks run at once as Ray has CPUs (:func:`start`'s ``workers``, or the
    cluster's). Not capped with ``concurrency``: capped, the map and the Parquet write run
    as two operators that split the CPUs between them, and 2 CPUs ran one map task at a
    time (measured: no faster with 2 than with 1); uncapped, each task maps and writes.
        _crash_on: ``(track_id, n)``: the worker handling that track exits on its first
            ``n`` tries, leaving ``skipped/<track_id>.crash-<try>`` (tests only).

    Returns:
        A :class:`Featurized`: the folder and the skipped files (track_id, path, error).
    """
    import ray

    from ..features.segments import labels_of

    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    settings = settings or config.get_profile().features
    out = Path(out).resolve()
    for earlier in (out / SEGMENTS, out / SKIPPED):  # an earlier job's, even a broken one
        if earlier.exists() and any(earlier.iterdir()):
            raise FileExistsError(f"{earlier} holds an earlier job's files: choose an empty "
                                  "folder")
    (out / SKIPPED).mkdir(parents=True, exist_ok=True)
    table = {"track_id": np.asarray(tracks["track_id"]).astype(str),
             "path": np.asarray([str(Path(p).resolve()) for p in tracks["path"]]),
             "label": labels_of(tracks)}
    n_blocks = max(1, -(-len(table["track_id"]) // tracks_per_task))
    rows = [{"track_id": t, "path": p, "label": int(y)}  # plain str/int: Arrow strings
            for t, p, y in zip(*(table[k].tolist() for k in table), strict=True)]
    ds = ray.data.from_items(rows, override_num_blocks=n_blocks)
    udf = _SegmentRows(kind, settings, str(out / SKIPPED), layer, max_attempts, _crash_on)
    # A task whose worker process dies is run again (Ray Core: "Task Fault Tolerance",
    # docs.ray.io/en/latest/ray-core/fault_tolerance/tasks.html); Ray Data submits its map
    # tasks with max_retries=-1, unbounded (2.60, ray/data/_internal/remote_fn.py; the ways
    # to change it, **ray_remote_args and ray_remote_args_fn, are deprecated in 2.60). The
    # retried task's rows are computed again and the write tasks receive each block once:
    # no row lost or doubled (tests/test_scale.py). Python errors are not retried: a bad
    # file is caught in the task; one that kills the process each time is given up after
    # max_attempts tries (_SegmentRows counts them on disk), so a retry cannot loop forever.
    ds = ds.map_batches(udf, batch_size=tracks_per_task, batch_format="numpy",
                        num_cpus=1)
    ds.write_parquet(str(out / SEGMENTS))
    skipped = [json.loads(p.read_text()) for p in sorted((out / SKIPPED).glob("*.json"))]
    return Featurized(out, skipped, len(table["track_id"]))


def read_segments(path) -> dict[str, np.ndarray]:
    """The Parquet rows :func:`featurize` wrote, sorted by (track_id, segment), as arrays
    (in this process: for checks and small sets, not for a corpus)."""
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401 (registers Ray's tensor column type: without it, flat lists)

    path = Path(path)
    if (path / SKIPPED).is_dir():  # featurize's folder
        path = path / SEGMENTS
    if not path.exists() or not any(path.glob("*.parquet")):  # no file decoded: no rows
        return {"track_id": np.zeros(0, str), "segment": np.zeros(0, np.int64),
                "label": np.zeros(0, np.int64), "features": np.zeros((0,), np.float32)}
    table = pq.read_table(path).to_pandas()
    table = table.sort_values(["track_id", "segment"], kind="stable").reset_index(drop=True)
    features = np.stack(table["features"].to_numpy()) if len(table) else np.zeros((0,))
    return {"track_id": table["track_id"].to_numpy(str), "segment": table["segment"].to_numpy(),
            "label": table["label"].to_numpy(), "features": features.astype(np.float32)}
