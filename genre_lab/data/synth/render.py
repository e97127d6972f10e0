"""Rendering one clip: parameters from the recipe, arrangement, mix and mastering.

:func:`render_clip` is the public entry point; it also checks, once at import, that every
name a recipe uses (instrument, progression, kit, pattern) exists.
"""

from __future__ import annotations

import math

import numpy as np

from genre_lab import GENRES
from genre_lab.config import SAMPLE_RATE

from .arrange import _BASS_PATTERNS, _COMP_PATTERNS, _Clip
from .drums import _DRUM_PATTERNS, _KITS
from .dsp import _filter, _sos
from .harmony import _PROGRESSIONS
from .instruments import _INSTRUMENTS
from .mastering import _master
from .params import _draw_params
from .recipes import _NEIGHBOURS, ARTISTS_PER_GENRE, RECIPES


def _check_recipes() -> None:
    """Fail at import if a recipe names something that does not exist."""
    names = [a.name for r in RECIPES.values() for a in r.artists]
    if len(set(names)) != len(names):
        raise AssertionError("artist names must be unique across the set")
    if set(RECIPES) != set(GENRES) or set(_NEIGHBOURS) != set(GENRES):
        raise AssertionError("RECIPES and _NEIGHBOURS need exactly the GTZAN genres")
    for genre, recipe in RECIPES.items():
        if len(recipe.artists) != ARTISTS_PER_GENRE:
            raise AssertionError(f"{genre}: needs {ARTISTS_PER_GENRE} artists")
        for slot in range(ARTISTS_PER_GENRE):
            r = recipe.for_artist(slot)
            names = (*r.comp, *r.bass, *r.lead, *(p for p in r.pad if p))
            for name in names:
                if name not in _INSTRUMENTS:
                    raise AssertionError(f"{genre}: unknown instrument {name!r}")
            for p in r.progressions:
                if p not in _PROGRESSIONS:
                    raise AssertionError(f"{genre}: unknown progression {p!r}")
            for k in r.kits:
                if k not in _KITS:
                    raise AssertionError(f"{genre}: unknown kit {k!r}")
            for values, known in ((r.drums, _DRUM_PATTERNS), (r.comp_pattern, _COMP_PATTERNS),
                                  (r.bass_pattern, _BASS_PATTERNS)):
                for v in values:
                    if v not in known:
                        raise AssertionError(f"{genre}: unknown pattern {v!r}")


_check_recipes()


def _artist_name(genre: str, index: int) -> tuple[int, str]:
    slot = index % ARTISTS_PER_GENRE
    return slot, RECIPES[genre].artists[slot].name


def _clip_seed(seed: int, genre_index: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, genre_index, index]).generate_state(1)[0])


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_seconds(seconds) -> None:
    if not isinstance(seconds, (int, float, np.integer, np.floating)) or not (
            math.isfinite(seconds) and seconds >= 1):
        raise ValueError(f"seconds must be a number >= 1, got {seconds!r}")


def _mix(clip: _Clip) -> np.ndarray:
    """Arrange ``clip``, mix its stems at their levels, master the mix and cut the clip out."""
    p, sr = clip.p, clip.sr
    clip.arrange()
    # Distorted guitars go through a guitar cabinet: a band-pass from 80 Hz to 5.5-9 kHz.
    if p["comp"] == "power" and "comp" in clip.stems:
        cab = (80, 9000 if p["drive"] > 10 else 5500)  # high-gain amps keep more fizz
        clip.stems["comp"] = _filter(_sos("bandpass", cab, sr, 2), clip.stems["comp"])
    if p["lead"] == "dist_lead" and "lead" in clip.stems:
        clip.stems["lead"] = _filter(_sos("bandpass", (120, 6000), sr, 2), clip.stems["lead"])
    levels = {"drums": p["drums_db"], "bass": p["bass_db"], "comp": p["comp_db"],
              "pad": p["pad_db"], "lead": p["lead_db"]}
    mix = np.zeros(clip.total, dtype=np.float32)
    for name, stem in clip.stems.items():
        rms = math.sqrt(float(np.dot(stem, stem)) / stem.size)
        if rms > 0 and np.isfinite(levels[name]):
            stem *= np.float32(10 ** (levels[name] / 20) / rms)
            mix += stem
    start = int(clip.pre * sr)
    mix = _master(mix, p, clip.rng, sr, start, clip.n, clip.bar_s)
    return mix[start:][: clip.n]


def render_clip(genre: str, *, seed: int = 0, index: int = 0, seconds: float = 30.0,
                sr: int = SAMPLE_RATE) -> tuple[np.ndarray, dict]:
    """Render one synthetic clip.

    Args:
        genre: one of :data:`genre_lab.GENRES`.
        seed: seed of the whole data set (>= 0).
        index: clip number within the genre (>= 0); it also picks the artist
            (``index % ARTISTS_PER_GENRE``).
        seconds: clip length (>= 1); the clip has exactly ``round(seconds * sr)`` samples.
        sr: sample rate in Hz (>= 8000).

    Returns:
        ``(y, params)``: a float32 mono signal with peak below 0.99, and a flat dict of
        everything drawn for the clip (artist, seed, tempo, key, mode, progression, drive,
        brightness, noise_db, swing, loudness, ...).

    Raises:
        ValueError: unknown genre or an argument out of range.
    """
    if genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}: choose one of {', '.join(GENRES)}")
    seed = _check_int("seed", seed, 0)
    index = _check_int("index", index, 0)
    sr = _check_int("sr", sr, 8000)
    _check_seconds(seconds)
    gi = GENRES.index(genre)
    clip_seed = _clip_seed(seed, gi, index)
    rng = np.random.default_rng(clip_seed)
    slot, artist = _artist_name(genre, index)
    params = {"genre": genre, "index": index, "artist": artist, "artist_slot": slot,
              "seed": clip_seed}
    params.update(_draw_params(genre, slot, rng))
    y = _mix(_Clip(params, rng, float(seconds), sr))
    return y.astype(np.float32), params
