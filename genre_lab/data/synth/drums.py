"""Drums: kit sounds (pitch-swept sines and filtered noise) and the patterns that play them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

from .dsp import _sos

# Drum patterns a recipe may name (played by _drum_bar).
_DRUM_PATTERNS = ("four_on_floor", "backbeat", "half_time", "one_drop", "rockers", "shuffle",
                  "jazz_ride", "double_kick", "boom_bap", "train", "two_step")


@dataclass(frozen=True)
class _Kit:
    """Drum kit sound: pitches, decays and noise colours of each piece."""

    kick_hz: tuple[float, float]  # start and end of the kick's pitch sweep
    kick_sweep: float  # sweep time constant (s)
    kick_decay: float  # amplitude decay (s)
    kick_click: float  # beater click level
    snare_hz: float  # snare shell tone
    snare_decay: float  # snare noise decay (s)
    snare_noise: float  # noise-to-tone balance
    snare_band: tuple[float, float]  # band of the snare wires (Hz)
    hat_cut: float  # hi-hat high-pass cut-off (Hz)
    hat_decay: float  # closed hat decay (s)
    ohat_decay: float  # open hat decay (s)
    cymbal_decay: float  # ride/crash decay (s)
    clap: float  # hand-clap layer on the backbeat (0..1)
    tone: float  # kit low-pass (Hz): vintage kits are darker
    cymbals: float = 1.0  # level of hats and cymbals (bright productions push them)


_KITS: dict[str, _Kit] = {
    # name: kick sweep (Hz), sweep s, kick decay, click | snare Hz, decay, noise, band |
    #       hat cut-off, closed/open decay, cymbal decay | clap, kit low-pass | cymbal level
    "acoustic": _Kit((120, 55), 0.03, 0.28, 0.3, 190, 0.16, 0.7, (1200, 8000),
                     7000, 0.04, 0.35, 1.2, 0.0, 11000, cymbals=1.0),
    "vintage": _Kit((105, 55), 0.035, 0.3, 0.15, 175, 0.18, 0.6, (900, 5000),
                    5500, 0.05, 0.3, 1.0, 0.0, 6000, cymbals=0.8),
    "rock": _Kit((130, 52), 0.028, 0.3, 0.5, 200, 0.18, 0.75, (1500, 9000),
                 7500, 0.04, 0.4, 1.4, 0.0, 11000, cymbals=1.4),
    "metal": _Kit((150, 58), 0.015, 0.16, 0.9, 230, 0.13, 0.7, (2000, 10000),
                  8000, 0.03, 0.35, 1.5, 0.0, 11000, cymbals=3.4),
    "disco": _Kit((110, 50), 0.04, 0.3, 0.25, 200, 0.14, 0.6, (1500, 9000),
                  8000, 0.03, 0.22, 1.0, 0.7, 11000, cymbals=3.2),
    "dance": _Kit((120, 48), 0.05, 0.38, 0.35, 210, 0.14, 0.7, (1800, 10000),
                  9000, 0.025, 0.2, 1.0, 0.9, 11000, cymbals=3.2),
    "tight": _Kit((125, 55), 0.025, 0.22, 0.4, 220, 0.12, 0.7, (1800, 10000),
                  8500, 0.03, 0.25, 1.0, 0.3, 11000, cymbals=2.4),
    "boombap": _Kit((95, 45), 0.05, 0.45, 0.35, 185, 0.2, 0.75, (1000, 7000),
                    8000, 0.035, 0.25, 1.0, 0.2, 10500, cymbals=2.4),
    "808": _Kit((80, 42), 0.08, 0.8, 0.2, 220, 0.16, 0.8, (1500, 9000),
                8500, 0.03, 0.22, 1.0, 0.8, 10000, cymbals=2.6),
    "jazz": _Kit((90, 60), 0.02, 0.2, 0.05, 240, 0.12, 0.5, (1500, 7000),
                 6000, 0.05, 0.4, 1.8, 0.0, 8000, cymbals=1.0),
    "brushes": _Kit((85, 60), 0.02, 0.18, 0.02, 230, 0.2, 0.95, (800, 5000),
                    5000, 0.06, 0.4, 1.6, 0.0, 6500, cymbals=0.8),
    "reggae": _Kit((100, 55), 0.03, 0.3, 0.2, 330, 0.1, 0.5, (1500, 8000),
                   7500, 0.03, 0.25, 1.0, 0.0, 11000, cymbals=1.8),
    "country": _Kit((110, 55), 0.03, 0.25, 0.3, 200, 0.14, 0.7, (1500, 9000),
                    7500, 0.035, 0.3, 1.2, 0.0, 7500, cymbals=1.0),
}


class _Drums:
    """The drum sounds of one clip: each piece rendered once, then reused for every hit."""

    def __init__(self, kit: _Kit, rng: np.random.Generator, sr: int):
        self.sr = sr
        self.cymbals = kit.cymbals
        j = lambda x: x * rng.uniform(0.9, 1.1)  # noqa: E731 - per-clip tuning jitter
        noise = rng.standard_normal(int(2.2 * sr))
        self.sounds = {}

        def t(seconds):
            return np.arange(int(seconds * sr)) / sr

        def band(x, kind, cutoff, order=2):
            return signal.sosfilt(_sos(kind, cutoff, sr, order), x)

        def fade(y, ms=3.0):
            n = min(len(y), int(ms * 1e-3 * sr))
            y[-n:] *= np.linspace(1.0, 0.0, n)
            y[:8] *= np.linspace(0.0, 1.0, 8)
            return y

        # Kick: a sine whose pitch sweeps down fast, plus a click.
        tk = t(min(1.2, 5 * kit.kick_decay))
        f_hi, f_lo = j(kit.kick_hz[0]), j(kit.kick_hz[1])
        sweep = kit.kick_sweep
        phase = 2 * np.pi * (f_lo * tk + (f_hi - f_lo) * sweep * (1 - np.exp(-tk / sweep)))
        kick = np.sin(phase) * np.exp(-tk / j(kit.kick_decay))
        click = band(noise[: tk.size], "highpass", 2500) * np.exp(-tk / 0.004)
        self.sounds["kick"] = fade(kick + kit.kick_click * click)

        # Snare: a band of noise (the wires) over a short shell tone.
        ts = t(0.5)
        wires = band(noise[2000 : 2000 + ts.size], "bandpass", kit.snare_band)
        wires *= np.exp(-ts / j(kit.snare_decay))
        sh = j(kit.snare_hz)
        shell = (np.sin(2 * np.pi * sh * ts) + 0.5 * np.sin(2 * np.pi * 1.6 * sh * ts))
        shell *= np.exp(-ts / 0.05)
        wires /= np.max(np.abs(wires))
        self.sounds["snare"] = fade(kit.snare_noise * wires + (1 - kit.snare_noise) * shell)

        # Hats: high-passed noise, short (closed) or long (open).
        hp = band(noise[20000 : 20000 + int(0.8 * sr)], "highpass", j(kit.hat_cut), 4)
        hp /= np.max(np.abs(hp))
        th = t(0.8)
        self.sounds["chat"] = fade(hp[: int(0.2 * sr)] * np.exp(-th[: int(0.2 * sr)]
                                                                / j(kit.hat_decay)))
        self.sounds["ohat"] = fade(hp * np.exp(-th / j(kit.ohat_decay)), 20)

        # Ride and crash: inharmonic square-ish partials (metal) plus noise, long decay.
        tc = t(min(2.0, 2.2 * kit.cymbal_decay))
        metal = _cymbal(sr)[: tc.size]
        hiss = band(noise[: tc.size], "highpass", 5000, 2)
        hiss /= np.max(np.abs(hiss))
        self.sounds["ride"] = fade((0.6 * metal + 0.4 * hiss) * np.exp(-tc / kit.cymbal_decay)
                                   * (0.6 + 0.4 * np.exp(-tc / 0.02)), 30)
        self.sounds["crash"] = fade((0.3 * metal + 0.7 * hiss)
                                    * np.exp(-tc / (0.8 * kit.cymbal_decay)), 30)

        # Clap: three quick bursts then a short tail of band-passed noise.
        tcl = t(0.3)
        env = np.exp(-tcl / 0.06)
        for d in (0.0, 0.011, 0.022):
            env = env + (tcl >= d) * np.exp(-np.clip(tcl - d, 0, None) / 0.004)
        clap = band(noise[5000 : 5000 + tcl.size], "bandpass", (900, 3500)) * env
        self.sounds["clap"] = fade(clap / np.max(np.abs(clap)))

        # Rim shot / cross-stick: a short high tone with a click.
        tr = t(0.12)
        rim = (np.sin(2 * np.pi * j(1700.0) * tr) * np.exp(-tr / 0.012)
               + band(noise[9000 : 9000 + tr.size], "highpass", 3000) * np.exp(-tr / 0.006))
        self.sounds["rim"] = fade(rim / np.max(np.abs(rim)))

        # Brush swish: band-passed noise with a soft attack.
        tb = t(0.35)
        brush = band(noise[12000 : 12000 + tb.size], "bandpass", (1500, 7000))
        brush *= np.minimum(tb / 0.03, 1.0) * np.exp(-tb / 0.12)
        self.sounds["brush"] = fade(brush / np.max(np.abs(brush)))

        # Toms: a gentler kick, higher.
        for name, f in (("tom_hi", 200.0), ("tom_lo", 130.0)):
            tt = t(0.5)
            ph = 2 * np.pi * (f * tt + 0.4 * f * 0.05 * (1 - np.exp(-tt / 0.05)))
            self.sounds[name] = fade(np.sin(ph) * np.exp(-tt / 0.18))

        # Kit colour: darker kits lose the top end.
        if kit.tone < 0.45 * sr:
            lp = _sos("lowpass", kit.tone, sr, 2)
            for name in ("snare", "chat", "ohat", "ride", "crash", "clap", "rim", "brush"):
                self.sounds[name] = signal.sosfilt(lp, self.sounds[name])
        if kit.clap > 0:
            self.sounds["snare"] = self.sounds["snare"] + kit.clap * np.pad(
                self.sounds["clap"], (0, max(0, len(self.sounds["snare"])
                                          - len(self.sounds["clap"]))))[
                : len(self.sounds["snare"])]
        self.sounds = {k: v.astype(np.float32) for k, v in self.sounds.items()}


@lru_cache(maxsize=4)
def _cymbal(sr: int) -> np.ndarray:
    """Two seconds of clangorous metal: inharmonic square waves, high-passed."""
    t = np.arange(2 * sr) / sr
    partials = sum(np.sign(np.sin(2 * np.pi * 420.0 * r * t + r))
                   for r in (1.0, 1.48, 1.93, 2.61, 3.37, 4.12))
    metal = signal.sosfilt(_sos("highpass", 3000, sr, 2), partials)
    return metal / np.max(np.abs(metal))


# Per drum piece: mix gain (before the velocity of the hit).
_DRUM_GAIN = {"kick": 1.0, "snare": 0.8, "chat": 0.22, "ohat": 0.25, "ride": 0.22,
              "crash": 0.3, "clap": 0.6, "rim": 0.4, "brush": 0.35, "tom_hi": 0.6,
              "tom_lo": 0.6}


def _drum_bar(pattern: str, bar: int, rng: np.random.Generator, fill: bool):
    """Hits of one bar: a list of (piece, step, velocity); steps are sixteenths 0-15."""
    hits = []
    add = lambda piece, steps, vel=1.0: hits.extend((piece, s, vel) for s in steps)  # noqa: E731
    if pattern == "four_on_floor":  # disco, dance pop
        add("kick", (0, 4, 8, 12))
        add("snare", (4, 12), 0.8)
        add("ohat", (2, 6, 10, 14), 0.9)
        add("chat", (1, 3, 5, 7, 9, 11, 13, 15), 0.5)
    elif pattern == "backbeat":  # rock, pop
        add("kick", (0, 8) + ((10,) if rng.random() < 0.5 else ()) +
            ((7,) if rng.random() < 0.25 else ()))
        add("snare", (4, 12))
        add("chat", range(0, 16, 2), 0.8)
    elif pattern == "half_time":  # doom, ballads: snare on 3
        add("kick", (0, 3) if rng.random() < 0.5 else (0, 10))
        add("snare", (8,))
        add("ride", range(0, 16, 4), 0.8)
    elif pattern == "one_drop":  # reggae: nothing on 1, kick + rim on 3
        add("kick", (8,))
        add("rim", (8,))
        add("chat", range(0, 16, 2), 0.6)
        if rng.random() < 0.3:
            add("ohat", (14,), 0.6)
    elif pattern == "rockers":  # reggae rockers: kick on every beat
        add("kick", (0, 4, 8, 12), 0.9)
        add("rim", (8,))
        add("chat", range(0, 16, 2), 0.6)
    elif pattern == "shuffle":  # blues: swung eighths on the hat, backbeat
        add("kick", (0, 8) + ((6,) if rng.random() < 0.3 else ()))
        add("snare", (4, 12), 0.9)
        add("chat", (0, 4, 8, 12), 0.8)
        add("chat", (2, 6, 10, 14), 0.55)
    elif pattern == "jazz_ride":  # ding, ding-a ding, ding-a; hat on 2 and 4, feathered kick
        add("ride", (0, 4, 8, 12), 0.9)
        add("ride", (6, 14), 0.6)
        add("chat", (4, 12), 0.5)
        add("kick", (0, 4, 8, 12), 0.15)
        add("brush", (0, 4, 8, 12), 0.5)
        add("snare", tuple(s for s in (3, 6, 10, 11, 14) if rng.random() < 0.2), 0.25)
    elif pattern == "double_kick":  # metal: sixteenth kicks, snare on 2 and 4
        add("kick", range(16), 0.85)
        add("snare", (4, 12))
        add("ride", range(0, 16, 2), 0.6)
        if bar % 2 == 0:
            add("crash", (0,), 0.9)
    elif pattern == "boom_bap":  # hip-hop: heavy kick, snare on 2 and 4, swung 16th hats
        add("kick", (0, 7, 10) if rng.random() < 0.6 else (0, 3, 10))
        add("snare", (4, 12))
        add("chat", range(0, 16), 0.6)
        add("chat", range(0, 16, 4), 0.3)  # accents on the beat
        if rng.random() < 0.25:
            add("ohat", (14,), 0.6)
    elif pattern == "train":  # country train beat: snare sixteenths, accents on 2 and 4
        add("kick", (0, 8))
        add("snare", (1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15), 0.18)
        add("snare", (0, 8), 0.35)
        add("snare", (4, 12), 0.9)
    elif pattern == "two_step":  # country two-step: boom-chick
        add("kick", (0, 8))
        add("snare", (4, 12), 0.8)
        add("chat", range(0, 16, 2), 0.7)
    else:
        raise ValueError(f"unknown drum pattern {pattern!r}")
    if fill and pattern not in ("jazz_ride",):
        hits = [h for h in hits if h[1] < 12 or h[0] in ("kick", "chat", "ride")]
        hits += [("tom_hi", 12, 0.8), ("tom_hi", 13, 0.7), ("tom_lo", 14, 0.85),
                 ("snare", 15, 0.9)]
    if bar % 8 == 0 and pattern not in ("jazz_ride", "one_drop", "double_kick"):
        hits.append(("crash", 0, 0.8))
    return hits
