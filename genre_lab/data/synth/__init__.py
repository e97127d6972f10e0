"""A deterministic synthetic "mini-GTZAN": ten genres of generated music in GTZAN's layout.

Why it exists
    GTZAN (10 genres x 100 clips x 30 s, 22050 Hz mono 16-bit WAV) cannot be downloaded in
    CI, yet every chapter of the course needs labelled music. :func:`generate` writes a
    stand-in with exactly GTZAN's on-disk layout (``genres/<genre>/<genre>.000NN.wav``) plus a
    ``metadata.csv`` with each clip's artist and recipe parameters (and
    ``.genre-lab-synth.json``, the files it wrote: a later run into the same folder replaces
    only those, and only with ``overwrite``). When ``GENRE_LAB_DATA``
    names a folder with the real GTZAN, the loader in :mod:`genre_lab.data` uses that instead;
    nothing here is needed then. The synthetic set is a well-behaved playground, not real
    music: results on it say how a method behaves, not how good it is on GTZAN.

The recipe idea
    Each genre is a :class:`GenreRecipe` in :data:`RECIPES`: a frozen, documented bundle of
    ranges and choices (tempo, drum pattern, swing, chord progressions, instruments, guitar
    drive, brightness, EQ tilt, reverb, noise floor, loudness ...). A clip draws its own values
    with a private random generator; a small arranger then writes bars of chords, a bass line,
    a melody and drum hits, and a renderer adds one short array per note into the mix:

    * wavetable oscillators (one band-limited period of an additive spectrum, read at the
      note's pitch) for piano, organ, bowed strings with vibrato and slow attack, reeds, brass
      and a formant "voice" (sung, or rhythmic syllables for rap);
    * Karplus-Strong plucked strings (guitar, banjo, harp, bass), vectorised: see
      ``instruments._Band.pluck``;
    * sawtooth power chords driven into ``tanh`` and a cabinet filter (rock, metal);
    * drums from pitch-swept sines (kick, toms) and filtered noise (snare, hats, cymbals).

    A mastering chain adds a room (convolution with decaying noise), a noise floor, the
    production EQ (tilt, low-pass, two random peaking bands), slow swells, and scales the clip
    to a loudness target under a peak limiter (peak <= 0.97, no clipping).

Artists and overlap
    Every genre has :data:`ARTISTS_PER_GENRE` artists (clip ``index`` belongs to artist
    ``index % ARTISTS_PER_GENRE``). An artist is a preset overriding some recipe fields (a lead
    timbre, a drum kit, a tempo sub-range, an EQ tilt, reverb, favourite keys), so clips of an
    artist resemble each other more than the rest of their genre, as in the real GTZAN, which
    repeats artists: an artist-level split is clearly harder than a track-level one. Genres
    overlap on purpose: some artists borrow a neighbour's style (a hard-rock metal band, a
    four-on-the-floor pop act, a jazzy blues band, a country-rock band), and any clip may
    borrow its lead, chords, kit or bass from a neighbouring genre (``borrowed`` column).

Determinism
    Clip ``index`` of ``genre`` draws everything from
    ``np.random.SeedSequence([seed, genre_index, index])`` (its integer seed is the ``seed``
    column), so a clip is the same whether 2 or 200 clips are generated, in any order, and
    the same arguments give byte-identical files.

Modules (data flows down this list; nothing imports upwards)
    ``recipes`` (genre recipes, artist presets, neighbours), ``harmony`` (scales,
    progressions, chord parsing), ``dsp`` (filter helpers), ``instruments`` (timbres,
    wavetables, plucks: :class:`instruments._Band`), ``drums`` (kits, patterns), ``params``
    (what a clip draws from its recipe), ``arrange`` (bars, parts and note stems),
    ``mastering`` (reverb, noise floor, EQ, loudness, limiter), ``render``
    (:func:`render_clip`), ``dataset`` (:func:`generate`). This package re-exports the
    public API.

Example::

    from genre_lab.data import synth
    y, params = synth.render_clip("reggae", seed=0, index=3, seconds=10)
    table = synth.generate("/tmp/mini-gtzan", clips_per_genre=20, seconds=12)
"""

from __future__ import annotations

from .dataset import MAX_CLIPS_PER_GENRE, MAX_SECONDS, generate
from .recipes import ARTISTS_PER_GENRE, RECIPES, ArtistPreset, GenreRecipe
from .render import render_clip

__all__ = ["ARTISTS_PER_GENRE", "MAX_CLIPS_PER_GENRE", "MAX_SECONDS", "RECIPES", "ArtistPreset",
           "GenreRecipe", "generate", "render_clip"]
