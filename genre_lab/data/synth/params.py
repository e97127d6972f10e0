"""A clip's parameters: everything drawn from its artist's recipe, plus borrowing."""

from __future__ import annotations

import math

import numpy as np

from .harmony import _NOTE_NAMES, _PROGRESSIONS
from .recipes import _NEIGHBOURS, ARTISTS_PER_GENRE, RECIPES

_BORROW = 0.2  # chance that a clip borrows its lead, chords, kit or bass from a neighbour
_COLOUR_DB = 8.0  # +- range of the two random "production" EQ bands of every clip


def _draw(rng: np.random.Generator, lo_hi, digits: int = 3, log: bool = False) -> float:
    lo, hi = map(float, lo_hi)
    if log and lo > 0:
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    return round(value, digits)


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _draw_params(genre: str, slot: int, rng: np.random.Generator) -> dict:
    """Every parameter of one clip, drawn from its artist's recipe."""
    r = RECIPES[genre].for_artist(slot)
    p = {
        "tempo": _draw(rng, r.tempo, 2),
        "key": _NOTE_NAMES[_choice(rng, r.keys)],
    }
    prog = _choice(rng, r.progressions)
    p.update(
        mode=_PROGRESSIONS[prog][0],
        scale=r.scales[0 if _PROGRESSIONS[prog][0] == "major" else 1],
        progression=prog,
        bars_per_chord=int(_choice(rng, r.bars_per_chord)),
        drums=_choice(rng, r.drums) if r.drums else "",
        kit=_choice(rng, r.kits) if r.drums else "",
        swing=_draw(rng, r.swing),
        swing_unit=r.swing_unit,
        comp=_choice(rng, r.comp),
        comp_pattern=_choice(rng, r.comp_pattern),
        pad=_choice(rng, r.pad),
        bass=_choice(rng, r.bass),
        bass_pattern=_choice(rng, r.bass_pattern),
        lead=_choice(rng, r.lead),
        lead_unit=r.lead_unit,
        lead_density=_draw(rng, r.lead_density),
        drive=_draw(rng, r.drive, 2),
        pluck_decay=_draw(rng, (0.7, 1.4), 2),  # scales the ring time of plucked strings
        vibrato=_draw(rng, (0.5, 1.6), 2),  # scales the vibrato depth of sustained tones
        brightness=_draw(rng, r.brightness, 0, log=True),
        tilt_db=_draw(rng, r.tilt, 2),
        reverb=_draw(rng, r.reverb),
        room=_draw(rng, r.room, 2),
        noise_db=_draw(rng, r.noise_db, 1),
        noise_kind=r.noise_kind,
        loudness=_draw(rng, r.loudness, 4, log=True),
        dynamics=_draw(rng, r.dynamics),
        humanize_ms=_draw(rng, r.humanize, 1),
        drums_db=_draw(rng, r.drums_db, 1) if r.drums else float("nan"),
        bass_db=_draw(rng, r.bass_db, 1),
        comp_db=_draw(rng, r.comp_db, 1),
        lead_db=_draw(rng, r.lead_db, 1),
        pad_db=_draw(rng, (-9, -5), 1),
        # "Production": two random peaking EQ bands (microphones, mixing, mastering chain).
        eq1_hz=_draw(rng, (150, 6000), 0, log=True),
        eq1_db=_draw(rng, (-_COLOUR_DB, _COLOUR_DB), 1),
        eq2_hz=_draw(rng, (150, 6000), 0, log=True),
        eq2_db=_draw(rng, (-_COLOUR_DB, _COLOUR_DB), 1),
        start=_draw(rng, (0.0, 1.0)),  # where in its first bar the clip starts
        progression_offset=int(rng.integers(16)),
    )
    # Genres overlap: now and then a clip borrows a part from a neighbouring genre.
    borrowed = []
    for fields in (("lead",), ("comp", "comp_pattern", "drive"), ("kit",), ("bass",)):
        if rng.random() >= _BORROW or (fields == ("kit",) and not r.drums):
            continue
        other = _choice(rng, _NEIGHBOURS[genre])
        donor = RECIPES[other].for_artist(int(rng.integers(ARTISTS_PER_GENRE)))
        for field in fields:
            if field == "drive":
                p[field] = _draw(rng, donor.drive, 2)
            else:
                p[field] = _choice(rng, getattr(donor, field + "s" if field == "kit" else field))
        borrowed.append(f"{fields[0]}:{other}")
    p["borrowed"] = " ".join(borrowed)
    if not p["pad"]:
        p["pad_db"] = float("nan")
    return p
