"""Harmony: note names, scales, chord progressions in Roman numerals, and chord parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_STEPS = 16  # sixteenth-note steps in a 4/4 bar
_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "pentatonic_major": (0, 2, 4, 7, 9),
    "pentatonic_minor": (0, 3, 5, 7, 10),
}

# Progressions in Roman numerals: one token per bar, "a/b" splits a bar in two halves.
# Upper case is major, lower case minor; suffixes: 7, maj7, 5 (power chord), o (diminished),
# ø (half-diminished). "b" flattens the degree.
_PROGRESSIONS = {
    "12-bar blues": ("major", "I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7"),
    "quick-change blues": ("major", "I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7"),
    "minor blues": ("minor", "i7 i7 i7 i7 iv7 iv7 i7 i7 bVI7 V7 i7 V7"),
    "jazz blues": ("major", "I7 IV7 I7 v7/I7 IV7 IV7 I7 VI7 ii7 V7 I7/VI7 ii7/V7"),
    "ii-V-I": ("major", "ii7 V7 Imaj7 Imaj7"),
    "ii-V-I-vi": ("major", "ii7 V7 Imaj7 vi7"),
    "minor ii-V-i": ("minor", "iiø V7 i7 i7"),
    "I-V-vi-IV": ("major", "I V vi IV"),
    "vi-IV-I-V": ("major", "vi IV I V"),
    "I-vi-IV-V": ("major", "I vi IV V"),
    "I-IV-V": ("major", "I IV V IV"),
    "I-IV-I-V": ("major", "I IV I V"),
    "I-bVII-IV": ("major", "I5 bVII5 IV5 I5"),
    "i-bVI-bVII": ("minor", "i5 bVI5 bVII5 i5"),
    "i-bII": ("minor", "i5 i5 bII5 i5"),
    "i-iv-v": ("minor", "i iv v i"),
    "i-bVII-bVI-bVII": ("minor", "i bVII bVI bVII"),
    "i7-iv7 vamp": ("minor", "i7 i7 iv7 iv7"),
    "Imaj7-ii7": ("major", "Imaj7 ii7 Imaj7 ii7"),
    "ii7-V7 vamp": ("major", "ii7 V7 ii7 V7"),
    "I-IV vamp": ("major", "I IV"),
    "I-IV-V-IV": ("major", "I IV V IV"),
    "i-iv vamp": ("minor", "i iv"),
    "i7-bVImaj7 loop": ("minor", "i7 bVImaj7"),
    "i7-iv7-v7 loop": ("minor", "i7 iv7 i7 v7"),
    "perfect cadence": ("major", "I IV V7 I vi ii V7 I"),
    "minor cadence": ("minor", "i iv V7 i bVI iv V7 i"),
    "canon": ("major", "I V vi iii IV I IV V"),
}

_DEGREES = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_QUALITIES = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11), "5": (0, 7, 12), "o": (0, 3, 6), "ø": (0, 3, 6, 10),
}
_ROMAN = re.compile(r"^(b?)(iii|ii|iv|vii|vi|v|i)(maj7|7|5|o|ø)?$", re.IGNORECASE)


@dataclass(frozen=True)
class _Chord:
    root: int  # pitch class
    intervals: tuple[int, ...]

    def pcs(self) -> set[int]:
        return {(self.root + i) % 12 for i in self.intervals}


def _parse_chord(token: str, key: int) -> _Chord:
    m = _ROMAN.match(token)
    if not m:
        raise ValueError(f"bad chord symbol {token!r}")
    flat, numeral, suffix = m.groups()
    minor = numeral.islower()
    root = (key + _DEGREES[numeral.lower()] - (1 if flat else 0)) % 12
    if suffix == "7":
        quality = "m7" if minor else "7"
    elif suffix:
        quality = suffix
    else:
        quality = "min" if minor else "maj"
    return _Chord(root, _QUALITIES[quality])


def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _place(pc: int, lo: int) -> int:
    """The MIDI note of pitch class ``pc`` in the octave starting at ``lo``."""
    return lo + (pc - lo) % 12
