"""From a checkpoint to an answer: the genres of an audio file, the score on a folder.

::

    saved = checkpoint.load("runs/cnn64")
    predict_file(saved, "song.mp3", top=3)       # [("rock", 0.61), ("metal", 0.2), ...]
    evaluate_folder(saved, "~/data/gtzan")       # its test tracks there, and which they were

A file is read in batches of segments (memory stays flat on an hour of audio) and a track's
answer is the mean of its segments' logits, as :func:`genre_lab.evaluate.evaluate` pools a
track. No answer is NaN: a silent file, or scores that are not finite, are an
``AudioError`` naming the file. ``evaluate_folder`` scores with the checkpoint's labels and
says exactly which tracks it scored: the model's test tracks, tracks it never saw (a
recording is recognised by its file's sha256, which ``genre-lab train`` records), or all.

The ``genre-lab predict`` and ``evaluate`` commands print what these return; a notebook can
call them the same way.
"""

from __future__ import annotations

import numpy as np

from . import audio, store
from .checkpoint import Checkpoint

__all__ = ["NOT_FINITE", "ROLES", "evaluate_folder", "file_probabilities", "predict_file",
           "track_digests", "track_roles"]

NOT_FINITE = "the model's scores are not finite (samples far out of range, or damaged weights)"


def _not_finite(saved: Checkpoint) -> str:
    return NOT_FINITE.replace("the model", str(saved.path))


#: What a track was to a model: one of its test tracks, one it was trained or early-stopped
#: on, or one it never saw.
ROLES = ("test", "trained", "unseen")
_ROLE_TEXT = dict(test="one of the model's test tracks",
                  unseen="unseen by the model (neither its training nor its validation tracks)")


def _segment_inputs(saved: Checkpoint, batch: np.ndarray, extract) -> list[np.ndarray]:
    # A probe reads the segments themselves; a network their log-mel or MFCC.
    if saved.kinds == ("audio",):
        return [batch]
    import torch

    with torch.no_grad():
        logmel, mfcc = extract(torch.from_numpy(batch))
    features = {"logmel": logmel.numpy(), "mfcc": mfcc.numpy()}
    return [features[k] for k in saved.kinds]


def file_probabilities(saved: Checkpoint, path) -> np.ndarray:
    """The probability of each of ``saved.labels`` for one audio file (any length, rate or
    channels): the softmax of its segments' mean logits.

    Raises:
        FileNotFoundError, genre_lab.audio.AudioError: the file cannot be read, is silent
            or a constant (its swing under twice :data:`genre_lab.audio.SILENCE_PEAK`, the
            peak ``genre-lab check`` calls silent), shorter than a third of a segment, or the
            model's scores on it are not finite.
    """
    from .features.frontend import FeatureExtractor
    from .train import predict_logits

    settings = saved.settings
    extract = FeatureExtractor(settings)
    total, count, swing, last = 0.0, 0, 0.0, 0
    for batch in audio.stream_segments(path, sr=settings.sample_rate,
                                       seconds=settings.segment_seconds):
        # how far the signal swings (a constant offset is no sound), and how long it is:
        # the last segment of a file is zero-padded, so its trailing zeros are not counted
        tail = np.trim_zeros(batch[-1], "b")
        last = len(tail)
        swing = max(swing, float(np.ptp(batch[:-1], axis=1).max(initial=0)),
                    float(np.ptp(tail)) if len(tail) else 0.0)
        try:
            logits = predict_logits(saved.model, _segment_inputs(saved, batch, extract))
        except ValueError:  # NaN or inf: never "rock nan"
            raise audio.AudioError(path, _not_finite(saved)) from None
        total = total + logits.sum(0)
        count += len(batch)
    if swing / 2 < audio.SILENCE_PEAK:
        raise audio.AudioError(path, "no signal: the audio is silent or a constant offset "
                                     "(after mixing the channels to mono)")
    seconds = ((count - 1) * batch.shape[1] + last) / settings.sample_rate
    # below a third of a segment, two thirds of the one segment would be padding
    shortest = settings.segment_seconds / 3
    if seconds < shortest * (1 - 1e-6):
        raise audio.AudioError(path, f"too short to classify: {seconds:.3g} s of audio, at "
                                     f"least {shortest:g} s (a third of a segment)")
    if not np.isfinite(total).all():  # finite scores whose sum overflows
        raise audio.AudioError(path, _not_finite(saved))
    logits = total / count
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def predict_file(saved: Checkpoint, path, *, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` most probable genres of an audio file, with their probabilities."""
    probs = file_probabilities(saved, path)
    return [(saved.labels[i], float(probs[i])) for i in np.argsort(probs)[::-1][:top]]


def track_digests(tracks) -> dict[str, str]:
    """A short sha256 of every track's file (what ``genre-lab train`` records, so that
    evaluation tells the same recording from another one with the same track id)."""
    return {str(track_id): store.file_sha256(path)[:16]
            for track_id, path in zip(tracks.track_id, tracks.path, strict=True)}


def track_roles(tracks, data: dict) -> tuple[dict[str, str], bool]:
    """``{track_id: role}`` (:data:`ROLES`) for a track table, from a checkpoint's data facts
    (``info["data"]``: ``test_tracks``, ``train_tracks``, ``val_tracks``, ``track_sha256``);
    and whether the files were compared (checkpoints without ``track_sha256`` match ids
    only). A track with a known id but other bytes (a synthetic set, a re-encoded copy) is
    another recording: unseen."""
    roles_by_id = {str(t): "test" for t in data.get("test_tracks", [])}
    roles_by_id.update({str(t): "trained" for key in ("train_tracks", "val_tracks")
                        for t in data.get(key, [])})
    saved_digests = data.get("track_sha256")
    ids = [str(t) for t in tracks.track_id]
    if not isinstance(saved_digests, dict):
        return {t: roles_by_id.get(t, "unseen") for t in ids}, False
    named = tracks[[t in saved_digests for t in ids]]
    digests = track_digests(named) if len(named) else {}
    return {t: roles_by_id.get(t, "unseen") if digests.get(t) == saved_digests.get(t)
            else "unseen" for t in ids}, True


def _data_problem(data: dict) -> str | None:
    # what track_roles reads, as genre-lab train writes it
    for key in ("test_tracks", "train_tracks", "val_tracks"):
        ids = data.get(key, [])
        if not (isinstance(ids, list) and all(isinstance(t, str) for t in ids)):
            return f"{key} is not a list of track ids"
    digests = data.get("track_sha256")
    if digests is not None and not (isinstance(digests, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in digests.items())):
        return "track_sha256 is not a table of track ids and hashes"
    return None


def _scope_text(choice: str, counts: dict, n_test: int, compared: bool, left_out) -> str:
    if "unknown" in counts:
        text = (f"every track ({counts['unknown']}): the checkpoint does not record which "
                "tracks it was trained on, so this may not be a test")
        return text + (f"; left out: genres the model does not know ({', '.join(left_out)})"
                       if left_out else "")
    if choice == "test":
        text = f"its test tracks, {counts['test']} of {n_test}"
        if counts["test"] < n_test:
            text += f" ({n_test - counts['test']} not in the folder)"
    elif choice == "unseen":
        text = "tracks it never saw in training (none of its test tracks is in the folder)"
    else:
        text = (f"every track: {counts['test']} of its test tracks, {counts['trained']} it was "
                f"trained or early-stopped on (not a test), {counts['unseen']} unseen")
    if not compared:
        text += ("; tracks matched by id only (a checkpoint saved before genre-lab recorded "
                 "file hashes)")
    if left_out:
        text += f"; left out: genres the model does not know ({', '.join(left_out)})"
    return text


def _segment_logits(saved: Checkpoint, tracks, progress: bool):
    """Logits of every segment of ``tracks`` and the segments (track ids) they belong to."""
    model = saved.model
    if saved.kinds == ("audio",):  # a probe: vectors of its frozen network, cached
        from .pretrained.transfer import embed

        first = embed(tracks, model.backbone, progress=progress)[model.layer]
        return model.logits(first.X).detach().numpy(), first
    from .features.segments import segment_features
    from .train import predict_logits

    segments = segment_features(tracks, saved.settings, progress=progress)
    first = segments[saved.kinds[0]]
    try:
        logits = predict_logits(model, [segments[k].X for k in saved.kinds])
    except ValueError:
        logits = np.full((len(first.X), len(saved.labels)), np.nan)
    return logits, first


def evaluate_folder(saved: Checkpoint, root, *, tracks: str = "auto",
                    progress: bool = True) -> dict:
    """Score a model on a GTZAN-layout folder, saying which tracks were scored.

    Args:
        saved: a loaded checkpoint.
        root: the folder (every clip is read, whatever the profile).
        tracks: ``"test"`` (the model's test tracks found there), ``"unseen"`` (tracks it was
            neither trained nor early-stopped on), ``"all"``, or ``"auto"``: test tracks if
            the folder holds any, else unseen ones (an error if every track was a training
            track: that score is no test).

    Returns:
        :func:`genre_lab.evaluate.evaluate`'s dict (per-class scores under the checkpoint's
        labels; tracks of other genres left out) plus ``model``, ``evaluated_on`` (the
        choice), ``scope`` (the same in words), ``tracks`` (how many of each role the folder
        holds; ``unknown`` when the checkpoint records no tracks), ``track_ids`` (those
        scored), ``left_out_genres`` and ``root``.

    Raises:
        ValueError: no track fits the choice, or the scores are not finite (one line).
    """
    from .data import load_tracks
    from .evaluate import evaluate

    saved.check_inputs()
    labels = list(saved.labels)
    table = load_tracks(root, profile="full")
    known = table.genre.isin(labels)
    left_out = sorted(set(table.genre[~known]))
    table = table[known]
    if not len(table):
        raise ValueError(f"{root}: no track of a genre the model knows ({', '.join(labels)})")
    data = saved.info.get("data")
    data = data if isinstance(data, dict) else {}  # free facts: a chapter may save a string
    problem = _data_problem(data)
    if problem:
        raise ValueError(f"{saved.path}: damaged checkpoint facts: {problem}")
    roles, compared = track_roles(table, data)
    counts = {role: sum(r == role for r in roles.values()) for role in ROLES}
    choice = tracks
    if not any(key in data for key in ("test_tracks", "train_tracks", "val_tracks")):
        # a checkpoint that does not say what it was trained on (a chapter's, an edited
        # one): its tracks are neither test nor unseen as far as anyone can tell
        if choice not in ("auto", "all"):
            raise ValueError(f"{saved.path}: the checkpoint does not record which tracks it "
                             "was trained on, so none can be called test or unseen; "
                             "--tracks all scores every track")
        choice, counts = "all", dict(test=0, trained=0, unseen=0, unknown=len(table))
    elif choice == "auto":
        choice = "test" if counts["test"] else "unseen" if counts["unseen"] else None
        if choice is None:
            raise ValueError(f"{root}: every track is one the model was trained or "
                             "early-stopped on, so its score is no test; add --tracks all to "
                             "score them anyway")
    elif choice not in (*ROLES, "all") or choice == "trained":
        raise ValueError(f"tracks must be auto, test, unseen or all, not {choice!r}")
    if choice != "all":
        if not counts[choice]:
            raise ValueError(f"{root}: none of its tracks is {_ROLE_TEXT[choice]}")
        table = table[[roles[str(t)] == choice for t in table.track_id]]
    logits, segments = _segment_logits(saved, table, progress)
    if not np.isfinite(logits).all():
        bad = sorted(set(segments.track_id[~np.isfinite(logits).all(axis=1)]))
        raise ValueError(f"{saved.path}: {NOT_FINITE} on {len(bad)} track(s), e.g. {bad[0]}")
    genre_of = dict(zip(table.track_id.astype(str), table.genre, strict=True))
    truth = np.array([labels.index(genre_of[str(t)]) for t in segments.track_id])
    result = evaluate(logits, truth, segments.track_id, genres=labels)
    result.update(model=saved.model.name, evaluated_on=choice, root=str(root),
                  scope=_scope_text(choice, counts, len(data.get("test_tracks", [])),
                                    compared, left_out),
                  tracks=counts, track_ids=sorted(map(str, set(segments.track_id))),
                  left_out_genres=left_out)
    return result
