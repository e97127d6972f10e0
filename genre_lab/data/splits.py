"""Train/validation/test splits of a track table: by track, by artist, or the fault-filtered
split of Kereliuk, Sturm & Larsen (2015) for the real GTZAN.

A split assigns whole tracks (never slices of a track) to one side. Each function returns a
copy of the table with a ``split`` column holding ``"train"``, ``"val"`` or ``"test"``.

Notebook: 03-classical-baselines onwards; 08-evaluation compares them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

SPLITS = ("train", "val", "test")


def track_split(tracks: pd.DataFrame, *, val: float = 0.2, test: float = 0.2,
                seed: int = 0) -> pd.DataFrame:
    """Stratified random split of tracks (each genre in the same proportions on every side)."""
    if not 0 < test < 1 or not 0 <= val < 1 or val + test >= 1:
        raise ValueError(f"want 0 < test, 0 <= val and val + test < 1; got {val=}, {test=}")
    out = tracks.copy()
    try:
        rest, test_idx = train_test_split(out.index, test_size=test, stratify=out.genre,
                                          random_state=seed)
        if val:
            _, val_idx = train_test_split(rest, test_size=val / (1 - test),
                                          stratify=out.genre[rest], random_state=seed)
    except ValueError as err:  # scikit-learn's words say nothing of genres
        per_genre = out.genre.value_counts()
        raise ValueError(f"too few tracks for a stratified split ({val=}, {test=}): "
                         f"{len(out)} tracks of {len(per_genre)} genres, {per_genre.min()} of "
                         f"{per_genre.idxmin()} (scikit-learn: {err})") from None
    split = pd.Series("train", index=out.index)
    split[test_idx] = "test"
    if val:
        split[val_idx] = "val"
    out["split"] = split
    return out


def artist_split(tracks: pd.DataFrame, *, n_folds: int = 4, seed: int = 0,
                 with_val: bool = True) -> pd.DataFrame:
    """Split so that no artist appears on two sides (the test artists are never heard in
    training): one of ``n_folds`` stratified artist folds is the test set, another the
    validation set.

    Raises:
        ValueError: the table has no artist for some track (the real GTZAN ships none;
            use :func:`filtered_split` there).
    """
    if tracks.artist.isna().any():
        raise ValueError("artist_split needs an artist for every track; the real GTZAN has "
                         "none in its files: use filtered_split (Kereliuk et al. 2015) instead")
    artists = tracks.artist.nunique()
    if artists < n_folds:  # each fold is a group of artists
        raise ValueError(f"an artist split needs at least {n_folds} artists (one fold each), "
                         f"these tracks have {artists} (see the artist column of metadata.csv)")
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    assignment = np.empty(len(tracks), dtype=int)
    for k, (_, idx) in enumerate(folds.split(tracks, tracks.genre, groups=tracks.artist)):
        assignment[idx] = k
    out = tracks.copy()
    out["split"] = np.where(assignment == 0, "test",
                            np.where((assignment == 1) & with_val, "val", "train"))
    return out


def read_split_lists(folder) -> dict[str, list[str]]:
    """Read the fault-filtered split lists (train/valid/test) from a folder.

    Accepts both spellings: ``filtered_{train,valid,test}.txt`` with one track id a line
    (``blues.00012``) and the upstream ``{train,valid,test}_filtered.txt`` with lines like
    ``blues/blues.00012.wav``.
    """
    folder = Path(folder)
    lists = {}
    for split, name in (("train", "train"), ("val", "valid"), ("test", "test")):
        for candidate in (folder / f"filtered_{name}.txt", folder / f"{name}_filtered.txt"):
            if candidate.is_file():
                lines = [ln.strip() for ln in candidate.read_text().splitlines() if ln.strip()]
                lists[split] = [Path(ln).name.removesuffix(".wav").removesuffix(".au")
                                for ln in lines]
                break
        else:
            raise FileNotFoundError(f"{folder}: no filtered_{name}.txt or {name}_filtered.txt")
    return lists


def filtered_split(tracks: pd.DataFrame, lists: dict[str, list[str]] | None = None, *,
                   folder=None) -> pd.DataFrame:
    """The fault-filtered GTZAN split (443 train / 197 val / 290 test tracks): no repeated
    clips across sides and artists kept apart. Tracks in none of the lists are dropped.

    Args:
        tracks: a track table of the real GTZAN.
        lists: ``{"train": [...], "val": [...], "test": [...]}`` of track ids, or
        folder: a folder with the split files (see :func:`read_split_lists`).
    """
    if lists is None:
        if folder is None:
            raise ValueError("give the split lists or the folder that holds them")
        lists = read_split_lists(folder)
    where = {tid: split for split, ids in lists.items() for tid in ids}
    out = tracks.copy()
    out["split"] = out.track_id.map(where)
    return out.dropna(subset=["split"]).reset_index(drop=True)


def every_genre_on_each_side(split_tracks: pd.DataFrame, sides=("train", "test")) -> bool:
    """Whether every genre of the table has tracks on each of ``sides`` (a split of a small
    subset of GTZAN, e.g. the fault-filtered lists on a few clips, may not)."""
    genres = set(split_tracks.genre)
    return all(set(split_tracks.genre[split_tracks.split == side]) == genres for side in sides)


def summary(split_tracks: pd.DataFrame) -> pd.DataFrame:
    """Tracks per genre on each side of a split (a quick check of stratification)."""
    return (split_tracks.groupby(["genre", "split"]).size().unstack(fill_value=0)
            .reindex(columns=[s for s in SPLITS if s in set(split_tracks.split)]))
