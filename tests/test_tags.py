"""Multi-label tags of the synthetic set: documented rules, sensible prevalence on the quick
profile, row order, determinism, and a clear error for data without the generator's metadata."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import shared
from genre_lab import GENRES
from genre_lab.data import load_tracks, synth
from genre_lab.data import tags as T


@pytest.fixture(scope="module")
def quick_meta(tmp_path_factory):
    """The metadata of the quick profile's 200 clips (20 per genre, seed 0). A clip's
    parameters do not depend on its length, so 1-s clips give the same table, quicker."""
    root = tmp_path_factory.mktemp("quick-meta")
    synth.generate(root, clips_per_genre=20, seconds=1.0, seed=0, progress=False, n_jobs=1)
    return pd.read_csv(root / "metadata.csv")


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("small-synth")
    synth.generate(root, clips_per_genre=2, seconds=3.0, seed=0, progress=False, n_jobs=1)
    return root


# ---- the vocabulary ------------------------------------------------------------------------


def test_vocabulary_is_documented():
    assert 10 <= len(T.TAGS) <= 20
    for tag, rule in T.TAGS.items():
        assert tag == tag.strip().lower() and tag != "macro"
        assert len(rule) > 10, f"{tag}: say the rule"
    assert set(T.INSTRUMENT_TAGS.values()) - {None} <= set(T.TAGS)


def instruments(recipe) -> set[str]:
    return {*recipe.comp, *recipe.bass, *recipe.lead, *(p for p in recipe.pad if p)}


def test_every_instrument_a_recipe_can_use_is_sorted_into_a_tag_or_left_out_on_purpose():
    # A clip draws from its artist's recipe; a borrowed part from another artist's. So these
    # are all the names a clip can have ...
    played = set()
    for recipe in synth.RECIPES.values():
        for slot in range(synth.ARTISTS_PER_GENRE):
            played |= instruments(recipe.for_artist(slot))
    assert played <= set(T.INSTRUMENT_TAGS)
    # ... and the table knows no name that no recipe lists (genre-wide lists included)
    listed = played.union(*(instruments(r) for r in synth.RECIPES.values()))
    assert set(T.INSTRUMENT_TAGS) <= listed
    assert set(T.INSTRUMENT_TAGS) - played == {"jazzbox", "brass", "organ_lead"}  # as documented


def meta_row(**changes) -> dict:
    row = dict(track_id="rock.00000", genre="rock", tempo=120.0, mode="major", drums="backbeat",
               swing=0.5, comp="guitar", pad=np.nan, bass="bass_finger", lead="voice",
               drive=1.0, noise_db=-50.0, drums_db=0.0, bass_db=-2.0, comp_db=-2.0,
               pad_db=np.nan, lead_db=0.0)
    row.update(changes)
    return row


def tags_of(**changes) -> set[str]:
    table = T.tags_from_metadata(pd.DataFrame([meta_row(**changes)]))
    return set(table.columns[table.iloc[0] == 1])


def test_rules_on_hand_written_clips():
    assert tags_of() == {"vocals", "acoustic guitar", "electric bass"}
    # amp guitars: distorted from DRIVE_MIN up
    assert "distorted guitar" in tags_of(comp="power", drive=T.DRIVE_MIN)
    assert tags_of(lead="eguitar_lead", drive=T.DRIVE_MIN) >= {"distorted guitar"}
    assert tags_of(lead="eguitar_lead", drive=1.9) == {"clean electric guitar",
                                                      "acoustic guitar", "electric bass"}
    assert "synth" in tags_of(lead="dist_lead", drive=1.0)  # a bare sawtooth lead
    assert "distorted guitar" not in tags_of(comp="eguitar", drive=30.0)  # comps play clean
    # audibility: a part counts at most AUDIBLE_DB below the loudest part
    assert "synth" in tags_of(pad="synth_pad", pad_db=-T.AUDIBLE_DB)
    assert "synth" not in tags_of(pad="synth_pad", pad_db=-T.AUDIBLE_DB - 0.1)
    assert "four on the floor" in tags_of(drums="four_on_floor")
    assert "four on the floor" not in tags_of(drums="four_on_floor", drums_db=-20.0)
    assert "four on the floor" not in tags_of(drums=np.nan, drums_db=np.nan)
    # thresholds
    assert "slow" in tags_of(tempo=T.SLOW_BPM - 0.01)
    assert not {"slow", "fast"} & tags_of(tempo=T.SLOW_BPM)
    assert "fast" in tags_of(tempo=T.FAST_BPM)
    assert "swing" in tags_of(swing=T.SWING_MIN)
    assert "swing" not in tags_of(swing=T.SWING_MIN - 0.001)
    assert "noisy" in tags_of(noise_db=T.NOISY_DB)
    assert "noisy" not in tags_of(noise_db=T.NOISY_DB - 0.1)
    assert "minor key" in tags_of(mode="minor")
    assert tags_of(bass="bass_sub", comp="banjo", lead="rap") == {"synth bass", "vocals"}


def test_metadata_of_another_generator_is_refused():
    with pytest.raises(T.TagError, match="instrument.*'theremin'"):
        T.tags_from_metadata(pd.DataFrame([meta_row(lead="theremin")]))
    with pytest.raises(T.TagError, match="drive"):
        T.tags_from_metadata(pd.DataFrame([meta_row()]).drop(columns="drive"))


# ---- the quick profile ---------------------------------------------------------------------


def test_quick_profile_tags_vary_and_cut_across_genres(quick_meta):
    tags = T.tags_from_metadata(quick_meta)
    assert tags.shape == (200, len(T.TAGS)) and list(tags.columns) == list(T.TAGS)
    assert tags.isin((0, 1)).all().all()
    prevalence = tags.mean()
    assert prevalence.between(0.05, 0.95).all(), prevalence.to_dict()
    by_genre = tags.groupby(quick_meta.genre.to_numpy()).mean()
    assert list(by_genre.index) == sorted(GENRES)
    # no tag is a genre (or a union of genres) in disguise: each is mixed within 2+ genres,
    mixed = ((by_genre > 0) & (by_genre < 1)).sum()
    assert (mixed >= 2).all(), mixed.to_dict()
    # and most are heard in at least four genres
    assert ((by_genre > 0).sum() >= 4).sum() >= 12
    assert (tags.sum(axis=1) >= 1).all()  # every clip has a tag


def test_quick_profile_tags_are_deterministic(quick_meta, tmp_path):
    # the same arguments give the same metadata, so the same tags
    synth.generate(tmp_path, clips_per_genre=2, seconds=1.0, seed=0, progress=False, n_jobs=1)
    again = pd.read_csv(tmp_path / "metadata.csv")
    first = quick_meta[quick_meta["index"] < 2].reset_index(drop=True)
    assert T.tags_from_metadata(again).equals(T.tags_from_metadata(first))


# ---- track tables --------------------------------------------------------------------------


def test_track_tags_follow_the_table(small_root):
    tracks = load_tracks(small_root)
    tags = T.track_tags(tracks)
    assert list(tags.index) == list(tracks.track_id) and tags.index.name == "track_id"
    meta = pd.read_csv(small_root / "metadata.csv")
    assert tags.equals(T.tags_from_metadata(meta).loc[tracks.track_id])
    shuffled = tracks.sample(frac=1.0, random_state=0).iloc[:7].assign(split="test")
    subset = T.track_tags(shuffled)
    assert list(subset.index) == list(shuffled.track_id)
    assert subset.equals(tags.loc[shuffled.track_id])
    assert T.track_tags(tracks).equals(tags)


def test_tracks_missing_from_the_metadata(small_root):
    tracks = load_tracks(small_root)
    with pytest.raises(T.TagError, match="not in the metadata"):
        T.track_tags(tracks.assign(track_id=tracks.track_id.str.replace("00001", "00042")))
    with pytest.raises(T.TagError, match="genres differ"):
        T.track_tags(tracks.assign(genre="rock"))
    with pytest.raises(T.TagError, match="empty"):
        T.track_tags(tracks.iloc[:0])


def one_line_error(tracks) -> str:
    with pytest.raises(T.TagError) as info:
        T.track_tags(tracks)
    assert isinstance(info.value, ValueError)  # the CLI prints it as one line
    message = str(info.value)
    assert "\n" not in message
    return message


def test_gtzan_without_metadata_has_no_tags(make_gtzan):
    root = make_gtzan(clips=1)
    assert "metadata.csv does not exist" in one_line_error(load_tracks(root))
    # a metadata.csv with artists only (allowed for real data) has no generator parameters
    pd.DataFrame({"track_id": ["blues.00000"], "artist": ["someone"]}).to_csv(
        root / "metadata.csv", index=False)
    tracks = load_tracks(root)
    assert tracks.artist[0] == "someone"
    assert "lacks the synthetic generator's parameters" in one_line_error(tracks)


def test_real_gtzan_sample_has_no_tags():
    tracks = load_tracks(shared("gtzan-sample"))
    assert "synthetic" in one_line_error(tracks)


def test_table_without_paths_uses_its_root(small_root):
    tracks = load_tracks(small_root)
    bare = tracks[["track_id", "genre"]].copy()
    bare.attrs = dict(tracks.attrs)
    assert T.track_tags(bare).equals(T.track_tags(tracks))
    bare.attrs = {}
    assert "path column" in one_line_error(bare)
    assert not math.isnan(T.AUDIBLE_DB)
