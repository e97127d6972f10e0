"""Pitched instruments: wavetable timbres, Karplus-Strong plucks, distorted guitars, voices.

The tables (:data:`_TIMBRES`, :data:`_PLUCKS`, :data:`_INSTRUMENTS`) name every sound a
recipe may use; :class:`_Band` renders the notes of one clip from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

from .dsp import _sos
from .harmony import _hz

_TABLE = 4096  # wavetable length (a power of two: phase wrap is a bit mask)


@dataclass(frozen=True)
class _Timbre:
    """A wavetable instrument: one period of a harmonic spectrum, plus an envelope."""

    slope: float = 1.0  # harmonic m has amplitude m ** -slope
    odd: float = 1.0  # gain of even harmonics (0: clarinet/square)
    formants: tuple[tuple[float, float, float], ...] = ()  # (Hz, width in octaves, dB)
    rolloff: float = 8000.0  # harmonics fade out above this frequency
    harmonics: tuple[float, ...] = ()  # explicit amplitudes (organ drawbars) instead of slope
    attack: float = 0.01
    decay: float = 0.0  # exponential decay time constant in s (0: sustained)
    release: float = 0.05
    vibrato: float = 0.0  # vibrato depth, fraction of the frequency
    vib_rate: float = 5.5
    breath: float = 0.0  # band-passed noise riding on the envelope
    dark: float = 0.0  # > 0: the bright attack fades to a darker tone with this time constant
    voices: int = 1  # detuned unison copies (string section, pads)
    detune: float = 0.0  # cents between copies
    lo: int = 55  # melody register (MIDI) when used as a lead
    hi: int = 79


_VOWELS = {  # formant frequencies (F1, F2, F3) of sung vowels
    "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (300, 2200, 3000),
    "o": (570, 840, 2410), "u": (320, 870, 2240),
}


def _vowel(v: str, **kw) -> _Timbre:
    f1, f2, f3 = _VOWELS[v]
    base = dict(slope=0.9, formants=((f1, 0.35, 16), (f2, 0.3, 12), (f3, 0.25, 9),
                                     (3200, 0.4, 6)),
                rolloff=5000, attack=0.035, release=0.08, vibrato=0.006, vib_rate=5.3,
                breath=0.04, lo=57, hi=76)
    base.update(kw)
    return _Timbre(**base)


_TIMBRES: dict[str, _Timbre] = {
    "piano": _Timbre(slope=1.1, rolloff=6000, attack=0.004, decay=1.1, release=0.12,
                     dark=0.18, lo=60, hi=84),
    "epiano": _Timbre(harmonics=(1.0, 0.18, 0.05, 0.02, 0.0, 0.0, 0.06), attack=0.004,
                      decay=1.3, release=0.15, dark=0.08),
    "organ": _Timbre(harmonics=(1.0, 0.8, 0.55, 0.45, 0.0, 0.25, 0.0, 0.18), attack=0.012,
                     release=0.06, vibrato=0.0015, vib_rate=6.5, lo=60, hi=84),
    "strings": _Timbre(slope=1.0, rolloff=4500, formants=((450, 0.6, 5), (2800, 0.5, 4)),
                       attack=0.18, release=0.35, vibrato=0.004, vib_rate=5.6, voices=3,
                       detune=9.0),
    "synth_pad": _Timbre(slope=1.0, rolloff=3500, attack=0.12, release=0.3, voices=3,
                         detune=14.0),
    "synth_pluck": _Timbre(slope=0.9, odd=0.4, rolloff=7000, attack=0.003, decay=0.18,
                           release=0.05, dark=0.05),
    "brass": _Timbre(slope=0.8, rolloff=5000, formants=((1200, 0.6, 8),), attack=0.025,
                     release=0.06, voices=2, detune=8.0),
    "violin": _Timbre(slope=0.9, rolloff=6000, formants=((500, 0.5, 6), (2900, 0.4, 8)),
                      attack=0.09, release=0.2, vibrato=0.006, vib_rate=5.8, lo=64, hi=88),
    "cello": _Timbre(slope=1.0, rolloff=3000, formants=((280, 0.6, 6),), attack=0.12,
                     release=0.3, vibrato=0.004, vib_rate=5.2, lo=36, hi=55),
    "fiddle": _Timbre(slope=0.8, rolloff=7000, formants=((600, 0.5, 6), (3000, 0.4, 9)),
                      attack=0.03, release=0.08, vibrato=0.004, vib_rate=6.0, lo=64, hi=86),
    "flute": _Timbre(harmonics=(1.0, 0.35, 0.12, 0.05, 0.02), attack=0.06, release=0.12,
                     vibrato=0.005, vib_rate=5.0, breath=0.06, lo=67, hi=91),
    "clarinet": _Timbre(slope=1.0, odd=0.08, rolloff=3500, attack=0.05, release=0.1,
                        vibrato=0.002, lo=55, hi=79),
    "sax": _Timbre(slope=0.75, rolloff=5000, formants=((550, 0.5, 8), (1500, 0.5, 7)),
                   attack=0.03, release=0.07, vibrato=0.005, vib_rate=5.0, breath=0.05,
                   lo=55, hi=77),
    "trumpet": _Timbre(slope=0.6, rolloff=6000, formants=((1300, 0.5, 9),), attack=0.025,
                       release=0.06, vibrato=0.004, vib_rate=5.5, breath=0.02, lo=60, hi=82),
    "harmonica": _Timbre(slope=0.7, odd=0.5, rolloff=5500, formants=((1800, 0.5, 6),),
                         attack=0.03, release=0.06, vibrato=0.008, vib_rate=6.0, breath=0.06,
                         lo=60, hi=84),
    "melodica": _Timbre(slope=0.8, odd=0.35, rolloff=5000, attack=0.03, release=0.08,
                        vibrato=0.003, breath=0.03, lo=62, hi=84),
    "square": _Timbre(slope=1.0, odd=0.0, rolloff=9000, attack=0.006, release=0.05,
                      vibrato=0.003, lo=64, hi=86),
    "saw": _Timbre(slope=1.0, rolloff=10000, attack=0.004, release=0.04),
    "steel": _Timbre(slope=1.3, rolloff=4000, attack=0.02, decay=1.6, release=0.1,
                     vibrato=0.007, vib_rate=4.5, lo=60, hi=84),
    "bass_synth": _Timbre(slope=1.0, rolloff=1800, attack=0.004, decay=0.35, release=0.04,
                          dark=0.06),
    "bass_sub": _Timbre(harmonics=(1.0, 0.12, 0.05), attack=0.006, decay=0.9, release=0.08),
    "bass_upright": _Timbre(harmonics=(1.0, 0.5, 0.25, 0.1, 0.05), attack=0.008, decay=0.45,
                            release=0.06),
    "bass_pick": _Timbre(slope=1.1, rolloff=2500, attack=0.003, decay=0.5, release=0.04,
                         dark=0.1),
    "voice_a": _vowel("a"), "voice_e": _vowel("e"), "voice_i": _vowel("i"),
    "voice_o": _vowel("o"), "voice_u": _vowel("u"),
    "rap_a": _vowel("a", attack=0.008, release=0.03, vibrato=0.0, breath=0.08),
    "rap_e": _vowel("e", attack=0.008, release=0.03, vibrato=0.0, breath=0.08),
    "rap_i": _vowel("i", attack=0.008, release=0.03, vibrato=0.0, breath=0.08),
    "rap_o": _vowel("o", attack=0.008, release=0.03, vibrato=0.0, breath=0.08),
}


@dataclass(frozen=True)
class _Pluck:
    """A Karplus-Strong string: decay, damping of the highs, excitation and pick position."""

    t60: float  # decay time of the fundamental (s)
    damping: float  # extra loss of upper harmonics (bigger: duller, shorter)
    bright: float  # excitation low-pass cut-off in Hz
    pick: float  # pluck position as a fraction of the string (comb notches)
    release: float = 0.06  # damping when the note is let go
    lo: int = 55
    hi: int = 79


_PLUCKS: dict[str, _Pluck] = {
    "guitar": _Pluck(t60=2.5, damping=0.5, bright=5000, pick=0.13),
    "eguitar": _Pluck(t60=3.0, damping=0.25, bright=7000, pick=0.22),
    "banjo": _Pluck(t60=0.9, damping=0.08, bright=9000, pick=0.08, lo=62, hi=86),
    "harp": _Pluck(t60=3.0, damping=0.8, bright=3500, pick=0.3),
    "jazzbox": _Pluck(t60=1.6, damping=2.5, bright=2500, pick=0.25, lo=55, hi=79),
    "skank": _Pluck(t60=0.5, damping=0.4, bright=6000, pick=0.15),
    "funk_guitar": _Pluck(t60=0.25, damping=0.3, bright=7000, pick=0.1),
    "bass_finger": _Pluck(t60=2.0, damping=6.0, bright=1200, pick=0.2),
}

# Every instrument name a recipe may use: (engine, sound). Engines: tone (wavetable),
# pluck (Karplus-Strong), dist (driven sawtooth through a cabinet filter), voice, rap.
_INSTRUMENTS: dict[str, tuple[str, str]] = {
    **{name: ("tone", name) for name in _TIMBRES},
    **{name: ("pluck", name) for name in _PLUCKS},
    "power": ("dist", "saw"),
    "dist_lead": ("dist", "saw"),
    "piano_lead": ("tone", "piano"),
    "piano_bass": ("tone", "piano"),
    "brass_lead": ("tone", "trumpet"),
    "organ_lead": ("tone", "organ"),
    "eguitar_lead": ("pluck", "eguitar"),
    "jazzbox_lead": ("pluck", "jazzbox"),
    "voice": ("voice", "voice"),
    "rap": ("rap", "rap"),
}


def _register(name: str) -> tuple[int, int]:
    """Melody register (MIDI low, high) of an instrument used as a lead."""
    engine, sound = _INSTRUMENTS[name]
    if engine == "tone":
        return _TIMBRES[sound].lo, _TIMBRES[sound].hi
    if engine == "pluck":
        return _PLUCKS[sound].lo, _PLUCKS[sound].hi
    if engine == "dist":
        return 59, 83
    return 57, 76  # voice


@lru_cache(maxsize=2048)  # ~16 KiB each
def _wavetable(name: str, midi: int, sr: int, dark: bool = False) -> np.ndarray:
    """One period (``_TABLE`` samples) of timbre ``name`` at pitch ``midi``, band-limited."""
    tb = _TIMBRES[name]
    f0 = float(_hz(midi))
    n_harm = int(max(1, min(0.45 * sr / f0, _TABLE // 2 - 1)))
    m = np.arange(1, n_harm + 1, dtype=float)
    freqs = m * f0
    if tb.harmonics:
        amp = np.zeros(n_harm)
        k = min(n_harm, len(tb.harmonics))
        amp[:k] = tb.harmonics[:k]
    else:
        amp = m ** -tb.slope
        amp[1::2] *= tb.odd
    rolloff = tb.rolloff / (3.0 if dark else 1.0)
    amp = amp / (1.0 + (freqs / rolloff) ** 4)
    for fc, width, gain_db in tb.formants:
        amp = amp * 10.0 ** (gain_db / 20.0 * np.exp(-0.5 * (np.log2(freqs / fc) / width) ** 2))
    spec = np.zeros(_TABLE // 2 + 1, dtype=complex)
    spec[1 : n_harm + 1] = -1j * amp  # sine phase
    table = sfft.irfft(spec, n=_TABLE)
    return (table / np.max(np.abs(table))).astype(np.float32)


class _Band:
    """The pitched instruments of one clip: renders (and caches) single notes and chords.

    It shares the clip's random generator, so notes must be asked for in the clip's order.
    """

    def __init__(self, p: dict, rng: np.random.Generator, sr: int):
        self.p, self.rng, self.sr = p, rng, sr
        self.cache: dict = {}
        self.noise = rng.standard_normal(sr)  # shared noise source for breath and plucks
        self.breath = None  # band-passed self.noise, made on first use

    def envelope(self, n_on: int, n: int, attack: float, decay: float, release: float):
        t = np.arange(n) / self.sr
        env = np.minimum(t / max(attack, 1e-4), 1.0)
        if decay > 0:
            env = env * np.exp(-t / decay)
        n_rel = max(1, n - n_on)
        env[n_on:] *= np.linspace(1.0, 0.0, n_rel)[: n - n_on]  # ends at exactly zero
        return env

    def tone(self, sound: str, midi: int, dur: float) -> np.ndarray:
        """A wavetable note of ``dur`` seconds (plus its release)."""
        n_on = max(1, int(dur * self.sr))
        key = ("tone", sound, midi, n_on)
        if key in self.cache:
            return self.cache[key]
        tb = _TIMBRES[sound]
        n = n_on + int(tb.release * self.sr)
        t = np.arange(n) / self.sr
        f = float(_hz(midi))
        phase = f * t
        if tb.vibrato:
            ramp = np.minimum(t / 0.35, 1.0)  # vibrato fades in
            rate, depth = tb.vib_rate, tb.vibrato * self.p["vibrato"]
            phase = phase + ramp * (depth * f / (2 * np.pi * rate)) * np.sin(2 * np.pi * rate * t)
        table = _wavetable(sound, midi, self.sr)
        y = table[(phase * _TABLE).astype(np.int64) & (_TABLE - 1)]
        for v in range(1, tb.voices):
            cents = tb.detune * (v - (tb.voices - 1) / 2 + 0.5) * (1 if v % 2 else -1)
            ph = phase * 2.0 ** (cents / 1200) + 0.37 * v
            y = y + table[(ph * _TABLE).astype(np.int64) & (_TABLE - 1)]
        if tb.dark:
            dark = _wavetable(sound, midi, self.sr, True)
            y_dark = dark[(phase * _TABLE).astype(np.int64) & (_TABLE - 1)] * tb.voices
            w = np.exp(-t / tb.dark)
            y = w * y + (1 - w) * y_dark
        decay = tb.decay * (2.0 ** (-(midi - 60) / 24)) if tb.decay else 0.0
        env = self.envelope(n_on, n, tb.attack, decay, tb.release)
        y = y * (env / tb.voices)
        if tb.breath:
            if self.breath is None:
                self.breath = signal.sosfilt(_sos("bandpass", (1500, 6000), self.sr),
                                             self.noise)
                self.breath /= np.std(self.breath)
            k = int(self.rng.integers(0, self.noise.size))
            y = y + tb.breath * np.resize(np.roll(self.breath, -k), n) * env
        y = y.astype(np.float32)
        self.cache[key] = y
        return y

    def pluck(self, sound: str, midi: int, dur: float) -> np.ndarray:
        """A Karplus-Strong plucked string, vectorised.

        Karplus-Strong fills a delay line of one period (``L`` samples) with a noise burst and
        feeds it back through a low-pass: ``y[n] = x[n] + g * (y[n-L] + y[n-L-1]) / 2``. Run
        through ``scipy.signal.lfilter`` that comb costs O(L) per sample (lfilter does not
        skip the zero coefficients); a Python loop would be worse. But the recursion is
        linear and the same on every trip round the loop, so in the DFT of one period it is
        diagonal: after ``k`` trips, harmonic ``m`` of the burst has been scaled by
        ``loss[m] ** k`` (the two-point average gives ``g * cos(pi * m / L)``). We build all
        trips at once as ``irfft(B * loss ** k)`` on a (trips x harmonics) grid, with a loss
        chosen per harmonic (fundamental decays 60 dB in ``t60``, highs faster), then
        resample the integer-length periods to the exact pitch. Cost: O(n log L).
        """
        n_on = max(1, int(dur * self.sr))
        key = ("pluck", sound, midi, n_on)
        if key in self.cache:
            return self.cache[key]
        pk = _PLUCKS[sound]
        sr = self.sr
        f = float(_hz(midi))
        period = sr / f
        L = int(math.ceil(period))
        n = n_on + int(pk.release * sr)
        rows = int(math.ceil(n / period)) + 2
        k0 = int(self.rng.integers(0, self.noise.size - L))
        burst = sfft.rfft(self.noise[k0 : k0 + L])
        m = np.arange(burst.size)
        fm = m * f  # frequency of harmonic m after resampling
        burst = burst / np.sqrt(1.0 + (fm / pk.bright) ** 2)  # excitation brightness
        burst = burst * np.abs(np.sin(np.pi * m * pk.pick))  # pick position notches
        burst[0] = 0.0
        # Loss per second of harmonic m: the fundamental decays by 60 dB in t60 seconds,
        # upper harmonics faster (the loop low-pass of Karplus-Strong).
        rate = 6.91 / (pk.t60 * self.p["pluck_decay"]) * (1.0 + pk.damping * (fm / 1000.0) ** 1.5)
        k = np.arange(rows)[:, None]
        grid = burst[None, :] * np.exp(-rate[None, :] * (period / sr) * k)
        periods = sfft.irfft(grid, n=L, axis=1).ravel()
        y = np.interp(np.arange(n) * (L / period), np.arange(periods.size), periods)
        # Damp on release and fade the very first samples (no click).
        env = self.envelope(n_on, n, 0.002, 0.0, pk.release)
        y = y * env
        y = (y / (np.max(np.abs(y)) + 1e-12)).astype(np.float32)
        self.cache[key] = y
        return y

    def dist(self, midis: tuple[int, ...], dur: float, palm: bool) -> np.ndarray:
        """Sawtooth notes summed, then driven into tanh: a distorted guitar (cab filter later)."""
        n_on = max(1, int(dur * self.sr))
        key = ("dist", midis, n_on, palm)
        if key in self.cache:
            return self.cache[key]
        drive = self.p["drive"]
        n = n_on + int(0.05 * self.sr)
        t = np.arange(n) / self.sr
        x = np.zeros(n)
        for i, m in enumerate(midis):
            f = float(_hz(m))
            for detune in (-0.0025, 0.0025):
                ph = f * (1 + detune) * t + 0.21 * i
                x += _wavetable("saw", m, self.sr)[(ph * _TABLE).astype(np.int64) & (_TABLE - 1)]
        x /= 2 * len(midis)
        env = self.envelope(n_on, n, 0.003, 0.09 if palm else 0.0, 0.05)
        y = (np.tanh(drive * x * env) / np.tanh(drive)).astype(np.float32)
        self.cache[key] = y
        return y

    def voice(self, midi: int, dur: float, vowel: str) -> np.ndarray:
        return self.tone("voice_" + vowel, midi, dur)

    def note(self, instrument: str, midi: int, dur: float) -> np.ndarray:
        engine, sound = _INSTRUMENTS[instrument]
        if engine == "tone":
            return self.tone(sound, midi, dur)
        if engine == "pluck":
            y = self.pluck(sound, midi, dur)
            drive = self.p["drive"]
            if instrument.endswith("_lead") and drive > 1.0:  # an amp on the edge of breakup
                key = ("driven", sound, midi, y.size)
                if key not in self.cache:
                    self.cache[key] = (np.tanh(drive * y) / math.tanh(drive)).astype(np.float32)
                y = self.cache[key]
            return y
        if engine == "dist":
            return self.dist((midi,), dur, False)
        if engine == "voice":
            return self.voice(midi, dur, "ao"[midi % 2])
        raise ValueError(instrument)

    def chord_sound(self, instrument: str, notes: tuple[int, ...], dur: float,
                    spread: float = 0.0) -> np.ndarray:
        """All ``notes`` together (strummed by ``spread`` seconds per string)."""
        key = ("chord", instrument, notes, int(dur * self.sr), spread)
        if key in self.cache:
            return self.cache[key]
        parts = [self.note(instrument, m, dur) for m in notes]
        offs = [int(i * spread * self.sr) for i in range(len(parts))]
        y = np.zeros(max(o + len(p) for o, p in zip(offs, parts, strict=True)), np.float32)
        for o, part in zip(offs, parts, strict=True):
            y[o : o + part.size] += part
        y *= np.float32(1 / math.sqrt(len(parts)))
        self.cache[key] = y
        return y
