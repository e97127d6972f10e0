"""Genre recipes: what each genre draws from, its artists, and its neighbouring genres.

A :class:`GenreRecipe` is a frozen bundle of ranges and choices; an :class:`ArtistPreset`
narrows some of them. Names in a recipe (instruments, progressions, kits, patterns) are keys
of the tables in :mod:`.instruments`, :mod:`.harmony`, :mod:`.drums` and :mod:`.arrange`;
:func:`.render._check_recipes` checks them all at import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: Artists (presets) per genre; the artist of clip ``index`` is ``index % ARTISTS_PER_GENRE``.
ARTISTS_PER_GENRE = 4


@dataclass(frozen=True)
class ArtistPreset:
    """An artist: a name and the recipe fields it pins down.

    Attributes:
        name: a made-up name, unique across the set.
        overrides: ``(field, value)`` pairs replacing fields of the genre's recipe, usually a
            narrower range or a single choice (``("lead", ("sax",))``).
    """

    name: str
    overrides: tuple[tuple[str, object], ...] = ()


def _artist(name: str, **overrides) -> ArtistPreset:
    return ArtistPreset(name, tuple(sorted(overrides.items())))


@dataclass(frozen=True)
class GenreRecipe:
    """How one genre sounds: ranges and choices that each clip draws from.

    Ranges are ``(low, high)`` and drawn uniformly; tuples of names are choices.
    """

    description: str
    """One line on what the recipe imitates."""
    tempo: tuple[float, float]
    """Tempo range in beats per minute."""
    drums: tuple[str, ...]
    """Drum patterns (``_DRUM_PATTERNS``, played by ``_drum_bar``); ``()``: no drums."""
    kits: tuple[str, ...]
    """Drum kit sounds (keys of ``_KITS``)."""
    swing: tuple[float, float]
    """Where the off-beat falls inside its pair: 0.5 straight, 0.67 triplet swing."""
    swing_unit: int
    """8: swing eighth notes (blues, jazz); 16: swing sixteenths (hip-hop)."""
    progressions: tuple[str, ...]
    """Chord progressions (keys of ``_PROGRESSIONS``)."""
    bars_per_chord: tuple[int, ...]
    """Harmonic rhythm: bars each chord symbol lasts (classical is slower)."""
    keys: tuple[int, ...]
    """Tonic pitch classes to choose from (0 = C, 4 = E, 9 = A ...)."""
    scales: tuple[str, str]
    """Melody scale over major-mode and over minor-mode progressions (keys of ``_SCALES``)."""
    comp: tuple[str, ...]
    """Chord instrument (keys of ``_INSTRUMENTS``)."""
    comp_pattern: tuple[str, ...]
    """How the chords are played (``_COMP_PATTERNS``: strum, offbeat skank, chug16 ...)."""
    pad: tuple[str, ...]
    """Optional second, sustained chord layer; ``""`` for none."""
    bass: tuple[str, ...]
    """Bass instrument."""
    bass_pattern: tuple[str, ...]
    """Bass line style (``_BASS_PATTERNS``: walking, octave, sub, reggae ...)."""
    lead: tuple[str, ...]
    """Melody instrument; ``"rap"`` is a rhythmic formant voice."""
    lead_unit: int
    """Melody grid in sixteenth steps: 2 = eighth notes, 4 = quarter notes."""
    lead_density: tuple[float, float]
    """Probability that a melody grid slot starts a note."""
    drive: tuple[float, float]
    """tanh gain of distorted guitars (power chords, distorted leads); ~1 is clean."""
    brightness: tuple[float, float]
    """Cut-off of the master low-pass in Hz, drawn log-uniformly (darker to brighter)."""
    tilt: tuple[float, float]
    """Spectral tilt of the master EQ, about dB per octave around 1 kHz (negative: darker)."""
    reverb: tuple[float, float]
    """Wet level of the room (0: dry)."""
    room: tuple[float, float]
    """Reverb decay time in seconds (the "smearing")."""
    noise_db: tuple[float, float]
    """Noise floor relative to the music, in dB."""
    noise_kind: str
    """``hiss`` or ``tape`` (white noise, coloured by the EQ) or ``vinyl`` (plus crackle)."""
    loudness: tuple[float, float]
    """Target RMS of the finished clip (drawn log-uniformly)."""
    dynamics: tuple[float, float]
    """Depth of slow swells in level: 0 flat, 0.7 strong crescendos (classical)."""
    humanize: tuple[float, float]
    """Standard deviation of timing jitter in milliseconds."""
    drums_db: tuple[float, float]
    """Mix level of the drums (dB, relative)."""
    bass_db: tuple[float, float]
    """Mix level of the bass."""
    comp_db: tuple[float, float]
    """Mix level of the chord instrument."""
    lead_db: tuple[float, float]
    """Mix level of the melody."""
    artists: tuple[ArtistPreset, ...] = ()
    """The genre's :data:`ARTISTS_PER_GENRE` artists."""

    def for_artist(self, slot: int) -> GenreRecipe:
        """This recipe with the overrides of artist ``slot`` applied."""
        return dataclasses.replace(self, **dict(self.artists[slot].overrides))


_C, _Db, _D, _Eb, _E, _F, _Gb, _G, _Ab, _A, _Bb, _B = range(12)
_ALL_KEYS = tuple(range(12))

RECIPES: dict[str, GenreRecipe] = {
    "blues": GenreRecipe(
        description="12-bar blues shuffle: swung eighths, dominant sevenths, guitar/harmonica",
        tempo=(72, 124), drums=("shuffle",), kits=("vintage", "acoustic"), swing=(0.62, 0.68),
        swing_unit=8, progressions=("12-bar blues", "quick-change blues", "minor blues"),
        bars_per_chord=(1,), keys=(_E, _A, _G, _C, _Bb), scales=("blues", "blues"),
        comp=("piano", "organ", "eguitar"), comp_pattern=("shuffle_riff", "block", "comp"),
        pad=("", "organ"), bass=("bass_finger", "bass_upright"), bass_pattern=("shuffle",),
        lead=("eguitar_lead", "harmonica", "voice"), lead_unit=2, lead_density=(0.3, 0.5),
        drive=(1.0, 2.5), brightness=(4500, 8000), tilt=(-1.5, 0.0), reverb=(0.1, 0.3),
        room=(0.8, 1.5), noise_db=(-42, -30), noise_kind="tape", loudness=(0.10, 0.17),
        dynamics=(0.1, 0.25), humanize=(8, 16), drums_db=(-4, 0), bass_db=(-4, -1),
        comp_db=(-5, -1), lead_db=(-2, 1),
        artists=(
            _artist("Muddy Creek Trio", tempo=(72, 96), comp=("guitar",), kits=("vintage",),
                    lead=("harmonica",), comp_pattern=("shuffle_riff",), drums_db=(-9, -5),
                    noise_db=(-34, -28), brightness=(3500, 5500), pad=("",), keys=(_E, _A)),
            _artist("Slim Harlan & the Voltage", tempo=(96, 124), comp=("organ",),
                    lead=("eguitar_lead",), drive=(2.0, 3.5), kits=("acoustic",),
                    keys=(_A, _G, _E), tilt=(-2.0, -1.0)),
            _artist("Boogie Dawson", tempo=(100, 124), comp=("piano",), lead=("piano_lead",),
                    comp_pattern=("shuffle_riff",), pad=("",), keys=(_C, _G, _Bb)),
            # Blurs into jazz: sax, upright bass walking, jazz kit.
            _artist("Velvet Lou Quartet", tempo=(84, 116), lead=("sax",), comp=("piano",),
                    comp_pattern=("comp",), bass=("bass_upright",), bass_pattern=("walking",),
                    kits=("jazz",), pad=("",), keys=(_Bb, _F, _C), reverb=(0.2, 0.35)),
        ),
    ),
    "classical": GenreRecipe(
        description="Chamber music: bowed strings with vibrato, piano, winds; no drums",
        tempo=(60, 116), drums=(), kits=("acoustic",), swing=(0.5, 0.5), swing_unit=8,
        progressions=("perfect cadence", "minor cadence", "canon"), bars_per_chord=(1, 2),
        keys=_ALL_KEYS, scales=("major", "harmonic_minor"),
        comp=("strings", "piano", "harp"), comp_pattern=("sustain", "alberti", "arpeggio"),
        pad=("",), bass=("cello",), bass_pattern=("sustain",),
        lead=("violin", "flute", "clarinet", "piano_lead"), lead_unit=4,
        lead_density=(0.45, 0.75), drive=(1.0, 1.0), brightness=(2800, 5000), tilt=(-3.0, -1.5),
        reverb=(0.25, 0.45), room=(1.4, 2.4), noise_db=(-62, -50), noise_kind="tape",
        loudness=(0.03, 0.06), dynamics=(0.4, 0.7), humanize=(10, 20), drums_db=(0, 0),
        bass_db=(-6, -3), comp_db=(-4, -1), lead_db=(-1, 2),
        artists=(
            _artist("Aurelian String Quartet", lead=("violin",), comp=("strings",),
                    comp_pattern=("sustain", "arpeggio"), tempo=(66, 100)),
            _artist("Clara Weiss", lead=("piano_lead",), comp=("piano",), bass=("piano_bass",),
                    comp_pattern=("alberti",), tempo=(80, 116), reverb=(0.15, 0.3)),
            _artist("Northern Chamber Orchestra", lead=("flute",), comp=("strings",),
                    comp_pattern=("sustain",), reverb=(0.4, 0.55), room=(2.0, 2.8),
                    tempo=(60, 84)),
            _artist("Ensemble Arcadia", lead=("clarinet",), comp=("harp",),
                    comp_pattern=("arpeggio",), tempo=(72, 108), brightness=(3500, 5500)),
        ),
    ),
    "country": GenreRecipe(
        description="Train beat and two-step, I-IV-V on strummed guitar, banjo, fiddle, steel",
        tempo=(92, 150), drums=("train", "two_step"), kits=("country", "acoustic"),
        swing=(0.5, 0.56), swing_unit=8, progressions=("I-IV-V", "I-IV-I-V", "I-V-vi-IV"),
        bars_per_chord=(1, 2), keys=(_G, _D, _A, _E, _C), scales=("pentatonic_major", "minor"),
        comp=("guitar", "banjo"), comp_pattern=("strum", "boom_chick"), pad=("",),
        bass=("bass_finger",), bass_pattern=("root_fifth",),
        lead=("fiddle", "steel", "voice"), lead_unit=2, lead_density=(0.35, 0.6),
        drive=(1.0, 1.0), brightness=(4500, 8000), tilt=(-2.0, -0.5), reverb=(0.08, 0.22),
        room=(0.6, 1.2), noise_db=(-52, -40), noise_kind="hiss", loudness=(0.10, 0.15),
        dynamics=(0.05, 0.15), humanize=(5, 10), drums_db=(-5, -1), bass_db=(-4, -1),
        comp_db=(-3, 0), lead_db=(-1, 2),
        artists=(
            _artist("Dusty Wheel Revue", tempo=(120, 150), drums=("train",), comp=("banjo",),
                    comp_pattern=("roll",), lead=("fiddle",), keys=(_G, _D, _A)),
            _artist("Lonesome Pine Ramblers", tempo=(96, 122), drums=("two_step",),
                    comp=("piano",), comp_pattern=("boom_chick",), lead=("steel",),
                    kits=("country",)),
            _artist("Jolene Bright", tempo=(84, 110), drums=("two_step",), comp=("guitar",),
                    comp_pattern=("strum",), lead=("voice",), progressions=("I-V-vi-IV",),
                    pad=("strings",), tilt=(-1.0, 0.5)),
            # Blurs into rock: overdriven chords, backbeat.
            _artist("Copperhead Highway", tempo=(104, 140), drums=("backbeat",),
                    comp=("power",), comp_pattern=("chug8",), drive=(2.0, 4.0),
                    lead=("eguitar_lead", "voice"), kits=("rock",)),
        ),
    ),
    "disco": GenreRecipe(
        description="Four-on-the-floor, open hats on the off-beats, octave bass, string stabs",
        tempo=(110, 130), drums=("four_on_floor",), kits=("disco",), swing=(0.5, 0.52),
        swing_unit=16, progressions=("i7-iv7 vamp", "Imaj7-ii7", "ii7-V7 vamp"),
        bars_per_chord=(1, 2), keys=(_A, _D, _E, _G, _C, _F), scales=("major", "dorian"),
        comp=("strings", "funk_guitar", "epiano", "brass"), comp_pattern=("stabs", "chops16"),
        pad=("", "strings"), bass=("bass_synth", "bass_finger"), bass_pattern=("octave",),
        lead=("voice", "brass_lead", "square"), lead_unit=2, lead_density=(0.35, 0.6),
        drive=(1.0, 1.0), brightness=(8500, 11000), tilt=(1.0, 2.5), reverb=(0.1, 0.25),
        room=(0.8, 1.4), noise_db=(-60, -46), noise_kind="hiss", loudness=(0.11, 0.17),
        dynamics=(0.0, 0.1), humanize=(1, 4), drums_db=(-2, 1), bass_db=(-3, 0),
        comp_db=(-4, -1), lead_db=(-2, 1),
        artists=(
            _artist("Mirrorball Society", comp=("strings",), comp_pattern=("stabs",),
                    lead=("brass_lead",), bass=("bass_finger",), pad=("strings",)),
            _artist("Funky Satin", comp=("funk_guitar",), comp_pattern=("chops16",),
                    lead=("voice",), bass=("bass_finger",), tempo=(112, 124)),
            _artist("Studio 9 Electric", comp=("epiano",), comp_pattern=("stabs",),
                    lead=("square",), bass=("bass_synth",), tilt=(1.5, 2.5)),
            # Blurs into pop: pop progression, voice, synth pad.
            _artist("Neon Avenue", progressions=("I-V-vi-IV", "vi-IV-I-V"), lead=("voice",),
                    comp=("synth_pad",), comp_pattern=("pulse8",), bass=("bass_synth",),
                    tempo=(114, 126)),
        ),
    ),
    "hiphop": GenreRecipe(
        description="Boom-bap: heavy kick and snare, swung sixteenth hats, minor loops, rap",
        tempo=(80, 100), drums=("boom_bap",), kits=("boombap", "808"), swing=(0.54, 0.62),
        swing_unit=16, progressions=("i7-bVImaj7 loop", "i7-iv7-v7 loop", "i-bVII-bVI-bVII"),
        bars_per_chord=(1, 2), keys=_ALL_KEYS, scales=("pentatonic_minor", "pentatonic_minor"),
        comp=("epiano", "piano", "strings", "synth_pad"), comp_pattern=("sustain", "stabs"),
        pad=("",), bass=("bass_sub",), bass_pattern=("sub",), lead=("rap",), lead_unit=1,
        lead_density=(0.55, 0.8), drive=(1.0, 1.0), brightness=(6500, 10500), tilt=(-0.5, 1.0),
        reverb=(0.04, 0.15), room=(0.5, 1.0), noise_db=(-40, -28), noise_kind="vinyl",
        loudness=(0.14, 0.21), dynamics=(0.0, 0.1), humanize=(2, 6), drums_db=(0, 3),
        bass_db=(-4, -1), comp_db=(-7, -3), lead_db=(-1, 2),
        artists=(
            _artist("MC Grit & the Dust Blocks", comp=("epiano",), kits=("boombap",),
                    noise_db=(-34, -26)),
            _artist("Dark Tower Cartel", comp=("strings", "synth_pad"), kits=("808",),
                    tempo=(84, 96), noise_db=(-48, -40), tilt=(-0.5, 0.5)),
            _artist("Lofi Static", comp=("piano", "epiano"), tempo=(80, 88),
                    brightness=(3500, 5500), noise_db=(-32, -24), kits=("boombap",)),
            # Blurs toward pop/disco: brighter, octave synth bass, faster.
            _artist("Westside Whistle", comp=("synth_pad",), bass=("bass_synth",),
                    bass_pattern=("octave",), tempo=(92, 100), brightness=(8000, 10500),
                    kits=("808",), noise_db=(-56, -46)),
        ),
    ),
    "jazz": GenreRecipe(
        description="Swing: ride cymbal, walking upright bass, ii-V-I sevenths, sax/trumpet/piano",
        tempo=(96, 180), drums=("jazz_ride",), kits=("jazz", "brushes"), swing=(0.6, 0.68),
        swing_unit=8, progressions=("ii-V-I", "ii-V-I-vi", "minor ii-V-i"),
        bars_per_chord=(1,), keys=(_F, _Bb, _Eb, _C, _G), scales=("major", "dorian"),
        comp=("piano", "epiano", "jazzbox"), comp_pattern=("comp",), pad=("",),
        bass=("bass_upright",), bass_pattern=("walking",),
        lead=("sax", "trumpet", "piano_lead", "jazzbox_lead"), lead_unit=2,
        lead_density=(0.4, 0.65), drive=(1.0, 1.0), brightness=(3500, 6500),
        tilt=(-1.5, 0.0), reverb=(0.18, 0.4), room=(1.0, 1.8), noise_db=(-52, -40),
        noise_kind="tape", loudness=(0.055, 0.10), dynamics=(0.15, 0.35), humanize=(8, 15),
        drums_db=(-7, -3), bass_db=(-3, 0), comp_db=(-5, -2), lead_db=(0, 3),
        artists=(
            _artist("Blue Lantern Trio", lead=("piano_lead",), comp=("piano",),
                    kits=("brushes",), tempo=(96, 132)),
            _artist("Ornette Vale Quintet", lead=("sax", "trumpet"), kits=("jazz",),
                    tempo=(132, 180), comp=("piano",)),
            _artist("Marcy Finch Group", lead=("jazzbox_lead",), comp=("epiano",),
                    kits=("brushes", "jazz"), tempo=(100, 150), tilt=(-2.0, -1.0)),
            # Blurs into blues: blues form, shuffle, brighter and louder.
            _artist("Eddie Lowell Blues Band", progressions=("jazz blues",), drums=("shuffle",),
                    lead=("sax",), comp=("organ",), kits=("jazz",), tempo=(100, 130),
                    loudness=(0.08, 0.13), tilt=(-2.5, -1.5)),
        ),
    ),
    "metal": GenreRecipe(
        description="Double-kick 16ths, heavily driven palm-muted power chords, minor/phrygian",
        tempo=(100, 190), drums=("double_kick",), kits=("metal",), swing=(0.5, 0.5),
        swing_unit=8, progressions=("i-bVI-bVII", "i-bII", "i-iv-v"), bars_per_chord=(1, 2),
        keys=(_E, _D, _Db, _B, _Gb), scales=("minor", "phrygian"), comp=("power",),
        comp_pattern=("chug16", "chug8"), pad=("",), bass=("bass_pick",),
        bass_pattern=("follow",), lead=("dist_lead", "voice"), lead_unit=2,
        lead_density=(0.35, 0.6), drive=(12.0, 30.0), brightness=(8500, 11000),
        tilt=(1.0, 2.5), reverb=(0.04, 0.12), room=(0.6, 1.2), noise_db=(-56, -42),
        noise_kind="hiss", loudness=(0.13, 0.18), dynamics=(0.0, 0.06), humanize=(1, 4),
        drums_db=(-3, 0), bass_db=(-6, -3), comp_db=(-1, 2), lead_db=(-4, -1),
        artists=(
            _artist("Iron Rot", tempo=(160, 190), comp_pattern=("chug16",),
                    drive=(18.0, 30.0)),
            _artist("Sorrow Engine", tempo=(68, 100), drums=("half_time",),
                    comp_pattern=("chug8",), keys=(_Db, _C, _B), drive=(20.0, 40.0),
                    brightness=(7000, 9500), reverb=(0.1, 0.2)),
            _artist("Starforge", tempo=(140, 180), lead=("dist_lead",),
                    lead_db=(-1, 2), tilt=(0.5, 2.0)),
            # Blurs into rock: backbeat, less drive, mid tempo.
            _artist("Gravel Saints", tempo=(110, 140), drums=("backbeat",),
                    comp_pattern=("chug8",), drive=(6.0, 12.0), lead=("voice",),
                    progressions=("i-bVI-bVII", "I-bVII-IV")),
        ),
    ),
    "pop": GenreRecipe(
        description="I-V-vi-IV, backbeat or four-on-the-floor, bright synths and loud vocals",
        tempo=(92, 128), drums=("backbeat", "four_on_floor"), kits=("dance", "tight"),
        swing=(0.5, 0.52), swing_unit=16,
        progressions=("I-V-vi-IV", "vi-IV-I-V", "I-vi-IV-V"), bars_per_chord=(1,),
        keys=_ALL_KEYS, scales=("pentatonic_major", "pentatonic_minor"),
        comp=("synth_pad", "piano", "guitar", "synth_pluck"),
        comp_pattern=("pulse8", "strum", "block"), pad=("", "synth_pad"),
        bass=("bass_synth", "bass_finger"), bass_pattern=("pop8",), lead=("voice",),
        lead_unit=2, lead_density=(0.45, 0.7), drive=(1.0, 1.0), brightness=(9000, 11000),
        tilt=(1.5, 3.0), reverb=(0.08, 0.22), room=(0.8, 1.4), noise_db=(-62, -50),
        noise_kind="hiss", loudness=(0.16, 0.24), dynamics=(0.0, 0.08), humanize=(1, 4),
        drums_db=(-2, 1), bass_db=(-4, -1), comp_db=(-4, -1), lead_db=(1, 4),
        artists=(
            # Blurs into disco: four-on-the-floor, synth bass, stabs.
            _artist("Lena Sky", drums=("four_on_floor",), comp=("synth_pluck",),
                    comp_pattern=("pulse8",), bass=("bass_synth",), tempo=(112, 126)),
            _artist("The Paper Hearts", drums=("backbeat",), comp=("guitar",),
                    comp_pattern=("strum",), kits=("tight",), tempo=(100, 124)),
            _artist("Rosa Vance", drums=("backbeat",), comp=("piano",), comp_pattern=("block",),
                    tempo=(76, 100), pad=("synth_pad",), drums_db=(-5, -2)),
            _artist("Kid Prism", drums=("four_on_floor",), comp=("synth_pad",),
                    comp_pattern=("pulse8",), kits=("dance",), tempo=(118, 128),
                    tilt=(1.5, 2.5)),
        ),
    ),
    "reggae": GenreRecipe(
        description="One-drop: kick and rim on 3, off-beat skank, organ bubble, heavy bass",
        tempo=(66, 96), drums=("one_drop", "rockers"), kits=("reggae",), swing=(0.52, 0.6),
        swing_unit=8, progressions=("I-IV vamp", "I-IV-V-IV", "i-iv vamp"),
        bars_per_chord=(1, 2), keys=(_A, _G, _C, _D, _E, _F, _Bb), scales=("major", "minor"),
        comp=("skank",), comp_pattern=("offbeat",), pad=("organ", ""),
        bass=("bass_finger",), bass_pattern=("reggae",), lead=("voice", "melodica", "organ_lead"),
        lead_unit=2, lead_density=(0.3, 0.5), drive=(1.0, 1.0), brightness=(5500, 9000),
        tilt=(-0.5, 1.0), reverb=(0.15, 0.32), room=(1.0, 1.8), noise_db=(-50, -38),
        noise_kind="tape", loudness=(0.10, 0.15), dynamics=(0.0, 0.12), humanize=(4, 9),
        drums_db=(-3, 0), bass_db=(-1, 2), comp_db=(-4, -1), lead_db=(-2, 1),
        artists=(
            _artist("Roots Foundation", drums=("one_drop",), lead=("voice",), pad=("organ",)),
            # Blurs toward disco/pop: kick on every beat, faster.
            _artist("Kingston Rockers Crew", drums=("rockers",), tempo=(84, 100),
                    lead=("voice",), tilt=(-1.0, 0.0)),
            _artist("Dub Shepherd", drums=("one_drop",), lead=("melodica",),
                    reverb=(0.4, 0.6), room=(1.8, 2.6), bass_db=(2, 5),
                    lead_density=(0.15, 0.3)),
            _artist("Sweet Lovers Band", drums=("one_drop",), lead=("voice",),
                    progressions=("I-V-vi-IV",), pad=("epiano",), tempo=(70, 88)),
        ),
    ),
    "rock": GenreRecipe(
        description="Backbeat: kick 1 and 3, snare 2 and 4, driven power chords and vocals",
        tempo=(100, 160), drums=("backbeat",), kits=("rock",), swing=(0.5, 0.52),
        swing_unit=8, progressions=("I-bVII-IV", "I-IV-V", "i-bVI-bVII"), bars_per_chord=(1,),
        keys=(_E, _A, _D, _G, _C), scales=("pentatonic_minor", "pentatonic_minor"),
        comp=("power",), comp_pattern=("chug8", "strum"), pad=("",), bass=("bass_pick",),
        bass_pattern=("root8",), lead=("voice", "dist_lead"), lead_unit=2,
        lead_density=(0.4, 0.65), drive=(3.0, 9.0), brightness=(5500, 9000), tilt=(-0.5, 1.0),
        reverb=(0.08, 0.22), room=(0.8, 1.4), noise_db=(-54, -42), noise_kind="hiss",
        loudness=(0.11, 0.15), dynamics=(0.0, 0.1), humanize=(3, 8), drums_db=(-2, 1),
        bass_db=(-4, -1), comp_db=(-2, 1), lead_db=(-1, 2),
        artists=(
            _artist("The Rusty Amps", comp_pattern=("chug8",), lead=("voice",)),
            # Blurs into metal: fast, more drive.
            _artist("Static Youth", tempo=(150, 180), drive=(8.0, 14.0), lead=("voice",),
                    comp_pattern=("chug8",), tilt=(0.0, 1.0)),
            _artist("Glass Parade", comp=("eguitar",), comp_pattern=("arpeggio",),
                    lead=("voice",), pad=("synth_pad",), tempo=(110, 140)),
            # Blurs into country: clean twangy strums, I-IV-V.
            _artist("Bourbon Creek", comp=("eguitar",), comp_pattern=("strum",),
                    lead=("steel", "eguitar_lead"), progressions=("I-IV-V",),
                    tempo=(100, 126), drive=(2.0, 3.0)),
        ),
    ),
}

#: Neighbouring genres: a clip sometimes borrows an instrument or kit from one of these.
_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "blues": ("jazz", "country", "rock"),
    "classical": ("jazz",),
    "country": ("rock", "blues", "pop"),
    "disco": ("pop", "hiphop", "reggae"),
    "hiphop": ("pop", "disco", "reggae"),
    "jazz": ("blues", "classical"),
    "metal": ("rock",),
    "pop": ("disco", "rock", "country", "hiphop"),
    "reggae": ("hiphop", "pop"),
    "rock": ("metal", "country", "pop", "blues"),
}
