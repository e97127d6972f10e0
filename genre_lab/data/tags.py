"""Multi-label tags of the synthetic mini-GTZAN: what a listener hears in each clip.

A genre is one label per clip; a tagger answers many yes/no questions at once (is there a
piano? is it fast? is the guitar distorted?), as the MagnaTagATune and Million Song Dataset
taggers do. The synthetic set knows the answers: the generator writes every clip's drawn
parameters to ``metadata.csv`` (instruments, levels, tempo, swing, mode, guitar drive, noise
floor), after any part a clip borrowed from a neighbouring genre. :func:`track_tags` turns
them into a 0/1 table with the rules in :data:`TAGS`; nothing is rendered or listened to.

Rules worth knowing:

* An instrument counts when its part is in the mix at most :data:`AUDIBLE_DB` below the
  clip's loudest part (each part is mixed at its ``*_db`` level). Every part of every clip
  passes except a few quiet pads (3 of the standard profile's 1000 clips).
* The instrument names a recipe may use are sorted into tags by :data:`INSTRUMENT_TAGS`;
  seven are left untagged (banjo, harp, flute, clarinet, harmonica, melodica, steel), each
  the instrument of one or two artists (and of clips that borrow from them).
* Guitars played through an amp (``power`` chords, ``dist_lead``, ``eguitar_lead``) are
  "distorted guitar" from a drive of :data:`DRIVE_MIN` up. Below it an ``eguitar_lead`` is a
  clean electric guitar, and a sawtooth ``power``/``dist_lead`` part, barely driven, sounds
  like a synth (this happens only when a clean genre borrows a rock or metal lead).
* The rest come from the drum pattern and the ``tempo``, ``swing``, ``mode`` and
  ``noise_db`` columns, with the thresholds named below.

Real GTZAN has no such metadata: :func:`track_tags` raises :class:`TagError` there.

Example::

    tracks = load_tracks()
    tags = track_tags(tracks)          # rows: track ids in the table's order
    tags.groupby(tracks.genre.values).mean()   # each tag's prevalence per genre

Notebook: 09 (pretrained networks and tagging).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["AUDIBLE_DB", "DRIVE_MIN", "FAST_BPM", "INSTRUMENT_TAGS", "NOISY_DB", "SLOW_BPM",
           "SWING_MIN", "TAGS", "TagError", "tags_from_metadata", "track_tags"]

#: A part is audible when mixed at most this many dB below the clip's loudest part.
AUDIBLE_DB = 12.0
#: Guitar drive (tanh gain) from which an amp guitar is "distorted guitar".
DRIVE_MIN = 2.0
#: Tempo classes in beats per minute: "slow" below SLOW_BPM, "fast" from FAST_BPM up.
SLOW_BPM = 90.0
FAST_BPM = 135.0
#: "swing" from this swing ratio up (0.5 straight, 0.667 triplet swing).
SWING_MIN = 0.58
#: "noisy" when the noise floor is at most this many dB below the music.
NOISY_DB = -40.0

#: The vocabulary, in column order: tag -> the rule that sets it.
TAGS: dict[str, str] = {
    "vocals": "an audible sung (voice) or rapped (rap) melody",
    "distorted guitar": f"power chords, a distorted lead (dist_lead) or an electric lead "
                        f"(eguitar_lead), audible, with drive >= {DRIVE_MIN:g}",
    "clean electric guitar": f"an audible electric guitar played clean: eguitar, funk_guitar, "
                             f"skank, jazzbox, jazzbox_lead, or eguitar_lead with drive < "
                             f"{DRIVE_MIN:g}",
    "acoustic guitar": "audible strummed or picked acoustic guitar (guitar)",
    "piano": "an audible acoustic piano part: chords (piano), melody (piano_lead) or bass "
             "line (piano_bass)",
    "electric piano": "an audible electric piano (epiano) as chords or pad",
    "organ": "an audible organ: chords or pad (organ), or melody (organ_lead)",
    "strings": "audible bowed strings: string section (strings) as chords or pad, violin or "
               "fiddle melody, cello bass line",
    "synth": f"an audible synthesizer chord, pad or melody: synth_pad, synth_pluck, square; "
             f"also a sawtooth power/dist_lead part with drive < {DRIVE_MIN:g}",
    "horns": "audible saxophone or brass: sax, trumpet or brass_lead melody, brass chords",
    "upright bass": "an audible acoustic double bass line (bass_upright)",
    "electric bass": "an audible electric bass line, fingered or picked (bass_finger, "
                     "bass_pick)",
    "synth bass": "an audible synthesizer or 808 sub bass line (bass_synth, bass_sub)",
    "four on the floor": "audible drums with the kick on every beat (four_on_floor, "
                         "reggae rockers)",
    "slow": f"tempo below {SLOW_BPM:g} BPM",
    "fast": f"tempo of {FAST_BPM:g} BPM or more",
    "swing": f"swung off-beats: swing ratio >= {SWING_MIN:g} (0.5 is straight, 0.667 triplet "
             f"swing)",
    "minor key": "the chord progression is in a minor key (mode column)",
    "noisy": f"a noise floor (hiss, tape or vinyl) at most {-NOISY_DB:g} dB below the music "
             f"(noise_db >= {NOISY_DB:g})",
}

#: Every instrument name a recipe may use -> its tag (None: untagged). The three amp
#: guitars (power, dist_lead, eguitar_lead) depend on the drive and are decided in code.
#: Three names appear only in genre-wide recipe lists that every artist overrides, so no
#: clip plays them today: jazzbox (chords), brass (chords), organ_lead.
INSTRUMENT_TAGS: dict[str, str | None] = {
    "voice": "vocals", "rap": "vocals",
    "power": "distorted guitar", "dist_lead": "distorted guitar",
    "eguitar_lead": "distorted guitar",
    "eguitar": "clean electric guitar", "funk_guitar": "clean electric guitar",
    "skank": "clean electric guitar", "jazzbox": "clean electric guitar",
    "jazzbox_lead": "clean electric guitar",
    "guitar": "acoustic guitar",
    "piano": "piano", "piano_lead": "piano", "piano_bass": "piano",
    "epiano": "electric piano",
    "organ": "organ", "organ_lead": "organ",
    "strings": "strings", "violin": "strings", "fiddle": "strings", "cello": "strings",
    "synth_pad": "synth", "synth_pluck": "synth", "square": "synth",
    "sax": "horns", "trumpet": "horns", "brass_lead": "horns", "brass": "horns",
    "bass_upright": "upright bass",
    "bass_finger": "electric bass", "bass_pick": "electric bass",
    "bass_synth": "synth bass", "bass_sub": "synth bass",
    "banjo": None, "harp": None, "flute": None, "clarinet": None, "harmonica": None,
    "melodica": None, "steel": None,
}

_FOUR_ON_THE_FLOOR = ("four_on_floor", "rockers")
#: (instrument column, level column) of each pitched part of a clip.
_PARTS = (("comp", "comp_db"), ("pad", "pad_db"), ("bass", "bass_db"), ("lead", "lead_db"))
_LEVELS = ("drums_db", "bass_db", "comp_db", "pad_db", "lead_db")
_NEEDED = ("track_id", "genre", "tempo", "mode", "drums", "swing", "comp", "pad", "bass",
           "lead", "drive", "noise_db", *_LEVELS)


class TagError(ValueError):
    """These tracks have no tags: not the synthetic set, or its metadata.csv is missing or
    incomplete. The message says which file and why."""


def _instrument_tags(name: str, drive: float) -> str | None:
    if name in ("power", "dist_lead", "eguitar_lead") and drive < DRIVE_MIN:
        return "clean electric guitar" if name == "eguitar_lead" else "synth"
    return INSTRUMENT_TAGS[name]


def tags_from_metadata(meta: pd.DataFrame) -> pd.DataFrame:
    """The tags of every clip in a synthetic ``metadata.csv`` table, by the rules of :data:`TAGS`.

    Args:
        meta: the table :func:`genre_lab.data.synth.generate` writes (as ``pd.read_csv`` reads
            it: empty instrument cells are NaN or ``""``).

    Returns:
        0/1 integers, one row per clip (index: ``track_id``, in ``meta``'s order), one column
        per tag of :data:`TAGS`.

    Raises:
        TagError: a needed column is missing, or an instrument name is not in
            :data:`INSTRUMENT_TAGS` (metadata from another generator version).
    """
    missing = [c for c in _NEEDED if c not in meta.columns]
    if missing:
        raise TagError(f"the metadata has no {', '.join(missing)} column(s): tags need the "
                       f"synthetic set's metadata.csv with the generator's parameters")
    names = {c: meta[c].astype(object).where(meta[c].notna(), "").astype(str)
             for c in ("drums", "comp", "pad", "bass", "lead")}
    unknown = sorted(set().union(*(set(names[c]) for c, _ in _PARTS)) - set(INSTRUMENT_TAGS)
                     - {""})
    if unknown:
        raise TagError(f"the metadata names instrument(s) {', '.join(map(repr, unknown))} that "
                       f"the tag vocabulary does not know (another generator version?)")
    levels = meta[list(_LEVELS)].astype(float)
    audible_from = levels.max(axis=1) - AUDIBLE_DB
    out = pd.DataFrame(0, index=pd.Index(meta["track_id"].astype(str), name="track_id"),
                       columns=list(TAGS), dtype=np.int64)
    drive = meta["drive"].astype(float).to_numpy()
    for column, level in _PARTS:
        audible = (levels[level] >= audible_from).to_numpy()  # NaN level: no such part
        for i, (name, heard) in enumerate(zip(names[column], audible, strict=True)):
            tag = _instrument_tags(name, drive[i]) if name and heard else None
            if tag is not None:
                out.iloc[i, out.columns.get_loc(tag)] = 1
    drums_heard = (levels["drums_db"] >= audible_from).to_numpy()
    flags = {
        "four on the floor": names["drums"].isin(_FOUR_ON_THE_FLOOR).to_numpy() & drums_heard,
        "slow": meta["tempo"].astype(float).to_numpy() < SLOW_BPM,
        "fast": meta["tempo"].astype(float).to_numpy() >= FAST_BPM,
        "swing": meta["swing"].astype(float).to_numpy() >= SWING_MIN,
        "minor key": (meta["mode"].astype(str) == "minor").to_numpy(),
        "noisy": meta["noise_db"].astype(float).to_numpy() >= NOISY_DB,
    }
    for tag, flag in flags.items():
        out[tag] = flag.astype(np.int64)
    return out


def _metadata_files(tracks: pd.DataFrame) -> list[Path]:
    """The metadata.csv beside the tracks: ``<root>/metadata.csv`` for every
    ``<root>/<genres folder>/<genre>/<file>`` path (as the synthetic set is written)."""
    if "path" in tracks.columns:
        folders = dict.fromkeys(Path(p).parents[2] for p in tracks["path"])
    elif tracks.attrs.get("root"):
        folders = {Path(tracks.attrs["root"]): None}
    else:
        raise TagError("the track table has neither a path column nor a root in its attrs: "
                       "pass the table load_tracks() returns")
    return [folder / "metadata.csv" for folder in folders]


def track_tags(tracks: pd.DataFrame) -> pd.DataFrame:
    """The tags of every track of a synthetic track table, read from its ``metadata.csv``.

    Notebook: 09 (pretrained networks and tagging).

    Args:
        tracks: a table from :func:`genre_lab.data.load_tracks` on the synthetic set (any
            subset or order of its rows; a ``split`` column may be there).

    Returns:
        0/1 integers: one row per track (index ``track_id``, in the table's order), one column
        per tag of :data:`TAGS` (see its rules).

    Raises:
        TagError: the tracks have no synthetic metadata (e.g. the real GTZAN), or it lacks
            some of these tracks.
    """
    if len(tracks) == 0:
        raise TagError("the track table is empty")
    frames = []
    for file in _metadata_files(tracks):
        if not file.is_file():
            raise TagError(f"no tags for these tracks: {file} does not exist (tags come from "
                           f"the synthetic set's metadata; real GTZAN has none)")
        try:
            frames.append(pd.read_csv(file))
        except (ValueError, OSError, UnicodeDecodeError) as err:  # pandas' parser errors
            raise TagError(f"{file}: cannot read it as a CSV table "
                           f"({str(err).splitlines()[0] if str(err) else err!r})") from None
        if not set(_NEEDED) <= set(frames[-1].columns):
            raise TagError(f"no tags for these tracks: {file} lacks the synthetic generator's "
                           f"parameters (tags exist only for the synthetic set)")
    meta = pd.concat(frames, ignore_index=True).drop_duplicates("track_id")
    tags = tags_from_metadata(meta)
    ids = tracks["track_id"].astype(str)
    absent = ids[~ids.isin(tags.index)]
    if len(absent):
        raise TagError(f"{len(absent)} track(s) are not in the metadata (e.g. "
                       f"{absent.iloc[0]}): tags exist only for the synthetic set's clips")
    genres = meta.set_index(meta["track_id"].astype(str))["genre"].loc[ids]
    if "genre" in tracks.columns and not np.array_equal(genres.to_numpy(),
                                                        tracks["genre"].astype(str).to_numpy()):
        raise TagError("the metadata's genres differ from the track table's: it belongs to "
                       "another data set")
    return tags.loc[ids]
