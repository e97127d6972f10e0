"""The arranger: lays one clip's chords, bass line, melody and drum hits out as note stems.

A :class:`_Clip` turns the drawn parameters into bars (progression, swing, humanised timing)
and adds one short array per note (from :class:`.instruments._Band` or :class:`.drums._Drums`)
into float32 stems; :func:`.render._mix` mixes and masters them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from .drums import _DRUM_GAIN, _KITS, _drum_bar, _Drums
from .dsp import _sos
from .harmony import _NOTE_NAMES, _PROGRESSIONS, _SCALES, _STEPS, _Chord, _parse_chord, _place
from .instruments import _INSTRUMENTS, _Band, _register
from .params import _choice

# Chord and bass-line patterns a recipe may name (played by arrange_comp and arrange_bass).
_COMP_PATTERNS = ("sustain", "block", "pulse8", "strum", "boom_chick", "offbeat", "chug8",
                  "chug16", "arpeggio", "roll", "alberti", "comp", "stabs", "chops16",
                  "shuffle_riff")
_BASS_PATTERNS = ("root8", "pop8", "root_fifth", "walking", "octave", "shuffle", "sub", "reggae",
                  "follow", "sustain")


class _Clip:
    """Arranges one clip from its parameters: every note added into float32 stems."""

    def __init__(self, p: dict, rng: np.random.Generator, seconds: float, sr: int):
        self.p, self.rng, self.sr = p, rng, sr
        self.n = int(round(seconds * sr))
        self.spb = 60.0 / p["tempo"]  # seconds per beat
        self.bar_s = 4 * self.spb
        self.pre = 0.5  # pre-roll (s) so reverb and notes are already sounding at the start
        self.t0 = p["start"] * self.bar_s  # song time of the first buffer sample
        self.total = self.n + int(self.pre * sr)
        self.n_bars = int(math.ceil((self.t0 + self.total / sr) / self.bar_s)) + 1
        self.key = _NOTE_NAMES.index(p["key"])
        tokens = _PROGRESSIONS[p["progression"]][1]
        self.scale = _SCALES[p["scale"]]
        self.bars = [[_parse_chord(c, self.key) for c in tok.split("/")]
                     for tok in tokens.split()]
        self.stems: dict[str, np.ndarray] = {}  # float32 buffers, made on first use
        self.band = _Band(p, rng, sr)  # the pitched instruments (draws its noise source now)
        self.jitter = p["humanize_ms"] * 1e-3
        if p["swing_unit"] == 8:
            s = p["swing"]
            self.offsets = np.array([0.0, s / 2, s, s + (1 - s) / 2])
        else:
            s = p["swing"]
            self.offsets = np.array([0.0, s * 0.5, 0.5, 0.5 + s * 0.5])

    # ---- timing and harmony -------------------------------------------------------------

    def time(self, bar: int, step: float) -> float:
        """Song time in seconds of a sixteenth step of a bar (swing applied)."""
        step = float(step)
        beat, sub = divmod(int(step), 4)
        frac = step - int(step)
        return (bar * 4 + beat + self.offsets[sub] + frac * 0.25) * self.spb

    def chord(self, bar: int, step: float = 0) -> _Chord:
        bpc = self.p["bars_per_chord"]
        i = bar // bpc + self.p["progression_offset"]
        halves = self.bars[i % len(self.bars)]
        pos = ((bar % bpc) * _STEPS + step) / (bpc * _STEPS)
        return halves[min(int(pos * len(halves)), len(halves) - 1)]

    # ---- stems -------------------------------------------------------------------------

    def add(self, stem: str, t: float, y: np.ndarray, gain: float = 1.0) -> None:
        """Add ``y`` into ``stem`` starting at song time ``t`` (with timing jitter)."""
        if self.jitter:
            t += self.rng.normal(0.0, self.jitter)
        i = int(round((t - self.t0) * self.sr))
        if i >= self.total or i + y.size <= 0:
            return
        if i < 0:
            y, i = y[-i:], 0
        end = min(self.total, i + y.size)
        if stem not in self.stems:
            self.stems[stem] = np.zeros(self.total, dtype=np.float32)
        self.stems[stem][i:end] += np.float32(gain) * y[: end - i]

    # ---- arrangement ---------------------------------------------------------------------

    def arrange(self) -> None:
        """Write every part (drums, bass, chords, pad, melody) into its stem."""
        p = self.p
        if p["drums"]:
            self.arrange_drums(_Drums(_KITS[p["kit"]], self.rng, self.sr))
        self.arrange_bass()
        self.arrange_comp(p["comp"], p["comp_pattern"])
        if p["pad"]:
            self.arrange_comp(p["pad"], "sustain", stem="pad")
        self.arrange_lead()

    def voicing(self, chord: _Chord, instrument: str) -> tuple[int, ...]:
        engine = _INSTRUMENTS[instrument][0]
        if engine == "pluck" and instrument in ("guitar", "eguitar", "skank", "funk_guitar"):
            root = _place(chord.root, 40)  # guitar shape: root on a low string, spread out
            third = chord.intervals[1] if len(chord.intervals) > 1 else 7
            notes = [root, root + 7, root + 12, root + 12 + third, root + 19]
            if len(chord.intervals) > 3:
                notes[2] = root + chord.intervals[3]
            if instrument in ("skank", "funk_guitar"):
                notes = notes[2:]  # upper strings only
            return tuple(notes)
        if instrument in ("banjo", "harp"):
            root = _place(chord.root, 55)
            return tuple(sorted({root + i % 12 for i in chord.intervals} | {root + 12}))
        if instrument == "jazzbox" or (instrument in ("piano", "epiano") and
                                       self.p["comp_pattern"] == "comp"):
            # Rootless voicing: third, seventh, ninth (and fifth).
            third, seventh = chord.intervals[1], chord.intervals[-1] % 12
            lo = _place(chord.root + third, 52)
            return tuple(sorted({lo, lo + (seventh - third) % 12,
                                 lo + (14 - third) % 12 + (12 if (14 - third) % 12 < 3 else 0)}))
        root = _place(chord.root, 48)
        return tuple(root + i for i in chord.intervals if i < 12)

    def arrange_drums(self, drums: _Drums) -> None:
        pattern = self.p["drums"]
        for bar in range(self.n_bars):
            fill = bar % 8 == 7 or (bar % 4 == 3 and self.rng.random() < 0.3)
            for piece, step, vel in _drum_bar(pattern, bar, self.rng, fill):
                vel = vel * self.rng.uniform(0.85, 1.0)
                gain = vel * _DRUM_GAIN[piece]
                if piece in ("chat", "ohat", "ride", "crash"):
                    gain *= drums.cymbals
                self.add("drums", self.time(bar, step), drums.sounds[piece], gain)

    def arrange_bass(self) -> None:
        inst, pattern = self.p["bass"], self.p["bass_pattern"]
        s = self.spb / 4  # seconds per sixteenth
        for bar in range(self.n_bars):
            chord = self.chord(bar)
            root = _place(chord.root, 28 if inst in ("bass_sub", "piano_bass") else 33)
            fifth, third = root + 7, root + chord.intervals[1] % 12
            nxt = _place(self.chord(bar + 1).root, 28)
            events: list[tuple[float, int, float]] = []  # (step, midi, steps long)
            if pattern == "root8":
                events = [(st, root, 1.6) for st in range(0, 16, 2)]
            elif pattern == "pop8":
                events = [(st, root if st < 12 else (fifth if st == 12 else root + 12), 1.7)
                          for st in range(0, 16, 2)]
            elif pattern == "root_fifth":
                events = [(0, root, 3.5), (8, fifth - 12 if fifth - 12 >= 28 else fifth, 3.5)]
                if self.rng.random() < 0.4:
                    events += [(12, third, 1.8), (14, root + 9 - 12 * (root + 9 > 47), 1.8)]
            elif pattern == "walking":
                approach = nxt + (1 if self.rng.random() < 0.5 else -1)
                mid = _choice(self.rng, (third, fifth, root + 12 if root < 40 else third))
                events = [(0, root, 3.6), (4, third, 3.6), (8, mid, 3.6), (12, approach, 3.6)]
            elif pattern == "octave":
                events = [(st, root + (12 if st % 4 else 0), 1.4) for st in range(0, 16, 2)]
                if self.rng.random() < 0.5:
                    events += [(15, root + 12, 0.8)]
            elif pattern == "shuffle":
                line = (0, 4, 7, 9, 10, 9, 7, 4)
                events = [(2 * i, root + line[i], 1.8) for i in range(8)]
            elif pattern == "sub":
                events = [(0, root, 6.5), (7, root, 2.8), (10, root, 5.5)]
            elif pattern == "reggae":
                events = [(2, root, 1.8), (4, fifth, 1.8), (6, root + 12, 1.5), (10, root, 2.7),
                          (13, third, 2.5)]
            elif pattern == "follow":
                step = 1 if self.p["comp_pattern"] == "chug16" else 2
                events = [(st, root, 0.8 * step) for st in range(0, 16, step)]
            elif pattern == "sustain":
                events = [(0, root, 7.5), (8, fifth if bar % 2 else root, 7.5)]
            else:
                raise ValueError(f"unknown bass pattern {pattern!r}")
            for st, midi, length in events:
                y = self.band.note(inst, int(midi), length * s)
                self.add("bass", self.time(bar, st), y, self.rng.uniform(0.8, 1.0))

    def arrange_comp(self, inst: str, pattern: str, stem: str = "comp") -> None:
        s = self.spb / 4
        engine = _INSTRUMENTS[inst][0]
        strum = 0.012 if engine == "pluck" else 0.0
        # One rhythmic figure per clip for the syncopated patterns, reused every bar.
        stabs = sorted(set(self.rng.choice([2, 3, 6, 7, 10, 11, 14], size=3, replace=False))
                       | {0})
        for bar in range(self.n_bars):
            chord = self.chord(bar)
            notes = self.voicing(chord, inst)
            hits: list[tuple[float, tuple[int, ...], float, float]] = []  # step, notes, len, vel
            if pattern == "sustain":
                hits = [(0, notes, 15.5, 0.9)]
                if self.p["bars_per_chord"] == 1 and len(self.bars[0]) > 1:
                    hits = [(0, notes, 7.5, 0.9), (8, self.voicing(self.chord(bar, 8), inst),
                                                    7.5, 0.9)]
            elif pattern == "block":
                hits = [(st, self.voicing(self.chord(bar, st), inst), 3.0, 0.9 if st % 8 == 0
                         else 0.75) for st in (0, 4, 8, 12)]
            elif pattern == "pulse8":
                hits = [(st, notes, 1.3, 0.9 if st % 4 == 0 else 0.7) for st in range(0, 16, 2)]
            elif pattern == "strum":
                hits = [(st, notes, ln, v) for st, ln, v in ((0, 3.8, 1.0), (4, 1.8, 0.8),
                                                            (6, 3.8, 0.7), (10, 1.8, 0.8),
                                                            (12, 1.8, 0.9), (14, 1.8, 0.7))]
            elif pattern == "boom_chick":
                hits = [(4, notes, 2.5, 0.9), (12, notes, 2.5, 0.9)]
            elif pattern == "offbeat":
                hits = [(st, notes, 1.0, 0.95) for st in (2, 6, 10, 14)]
            elif pattern in ("chug8", "chug16"):
                step = 2 if pattern == "chug8" else 1
                root = _place(chord.root, 40)
                power = (root, root + 7, root + 12)
                for st in range(0, 16, step):
                    accent = st in (0, 8) or (st == 6 and self.rng.random() < 0.3)
                    y = self.band.dist(power, (3.8 if accent else 0.9 * step) * s, not accent)
                    self.add(stem, self.time(bar, st), y, 1.0 if accent else 0.75)
                continue
            elif pattern == "arpeggio":
                order = list(notes) + list(notes[-2:0:-1])
                unit = 1 if inst == "banjo" else 2
                hits = [(st, (order[(st // unit) % len(order)],), unit * 2.5, 0.8)
                        for st in range(0, 16, unit)]
            elif pattern == "roll":  # banjo forward roll: sixteenths
                order = [notes[0], notes[min(2, len(notes) - 1)], notes[-1]]
                hits = [(st, (order[st % 3],), 2.5, 0.75 + 0.2 * (st % 4 == 0))
                        for st in range(16)]
            elif pattern == "alberti":
                lo, hi, mid = notes[0] - 12, notes[-1], notes[1]
                fig = (lo, hi, mid, hi)
                hits = [(st, (fig[(st // 2) % 4],), 2.2, 0.8) for st in range(0, 16, 2)]
            elif pattern == "comp":  # jazz: a few syncopated, short chords
                picks = [st for st in (0, 3, 6, 8, 10, 14) if self.rng.random() < 0.35]
                hits = [(st, self.voicing(self.chord(bar, st), inst), 2.2, 0.75) for st in picks]
            elif pattern == "stabs":
                hits = [(st, self.voicing(self.chord(bar, st), inst), 1.2, 0.9) for st in stabs]
            elif pattern == "chops16":
                hits = [(st, notes, 0.5, 0.9 if st % 4 == 2 else 0.5) for st in range(16)
                        if st % 4 != 0 or self.rng.random() < 0.3]
            elif pattern == "shuffle_riff":
                root = _place(chord.root, 40 if engine == "pluck" else 45)
                sixths = (7, 7, 9, 9, 10, 10, 9, 9)
                hits = [(2 * i, (root, root + sixths[i]), 1.7, 0.9 if i % 2 == 0 else 0.7)
                        for i in range(8)]
            else:
                raise ValueError(f"unknown comp pattern {pattern!r}")
            for st, chord_notes, length, vel in hits:
                y = self.band.chord_sound(inst, tuple(int(m) for m in chord_notes),
                                          length * s, strum)
                self.add(stem, self.time(bar, st), y, vel * self.rng.uniform(0.85, 1.0))

    def arrange_lead(self) -> None:
        inst = self.p["lead"]
        s = self.spb / 4
        if inst == "rap":
            self.arrange_rap()
            return
        lo, hi = _register(inst)
        scale = [m for m in range(lo, hi + 1) if (m - self.key) % 12 in self.scale]
        unit = self.p["lead_unit"]
        slots = 2 * _STEPS // unit  # slots in a two-bar phrase
        density = self.p["lead_density"]
        rhythm = self.rng.random(slots) < density
        rhythm[0] = True
        contour = self.rng.choice([-2, -1, -1, 1, 1, 2, 0, 3, -3], size=slots)
        idx = len(scale) // 2
        legato = 0.95 if unit == 4 else 0.8
        for phrase in range(self.n_bars // 2 + 1):
            if phrase % 4 == 3 and self.rng.random() < 0.6:
                continue  # breathe
            r = rhythm.copy()
            flip = self.rng.random(slots) < 0.12
            r[flip] = ~r[flip]
            c = np.where(self.rng.random(slots) < 0.2, self.rng.integers(-2, 3, slots), contour)
            onsets = np.flatnonzero(r)
            for j, slot in enumerate(onsets):
                idx = int(np.clip(idx + c[slot], 0, len(scale) - 1))
                bar = phrase * 2 + (slot * unit) // _STEPS
                step = (slot * unit) % _STEPS
                midi = scale[idx]
                if step % 8 == 0:  # strong beat: move to the nearest chord tone
                    pcs = self.chord(bar, step).pcs()
                    for d in (0, 1, -1, 2, -2):
                        if (midi + d - self.key) % 12 in self.scale or d == 0:
                            if (midi + d) % 12 in pcs and lo <= midi + d <= hi:
                                midi += d
                                break
                nxt = onsets[j + 1] if j + 1 < len(onsets) else slots
                length = min((nxt - slot) * unit, 8) * legato
                y = self.band.note(inst, midi, length * s)
                self.add("lead", self.time(bar, step), y, self.rng.uniform(0.75, 1.0))

    def arrange_rap(self) -> None:
        """Rhythmic speech: short formant syllables on sixteenths, falling at phrase ends."""
        s = self.spb / 4
        base = int(self.rng.integers(48, 55))
        density = self.p["lead_density"]
        flow = self.rng.random(_STEPS) < density  # a per-clip flow, varied per bar
        for bar in range(self.n_bars):
            if bar % 4 == 3 and self.rng.random() < 0.5:
                continue
            f = flow ^ (self.rng.random(_STEPS) < 0.15)
            for st in np.flatnonzero(f):
                length = 1.6 if st + 1 < _STEPS and not f[min(st + 1, 15)] else 0.8
                pitch = base + int(self.rng.integers(-2, 3)) - (2 if st >= 12 else 0)
                vowel = _choice(self.rng, "aeio")
                y = self.band.tone("rap_" + vowel, pitch, length * s)
                self.add("lead", self.time(bar, st), y, self.rng.uniform(0.7, 1.0))
                if self.rng.random() < 0.35:  # a consonant: a burst of hiss
                    n = int(0.04 * self.sr)
                    k = int(self.rng.integers(0, self.band.noise.size - n))
                    hiss = self.band.noise[k : k + n]
                    burst = signal.sosfilt(_sos("highpass", 4000, self.sr), hiss)
                    burst *= np.exp(-np.arange(n) / (0.012 * self.sr)) * np.linspace(1.0, 0.0, n)
                    self.add("lead", self.time(bar, st) - 0.01, burst, 0.5)
