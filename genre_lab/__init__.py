"""genre_lab: the helper package of the genre-lab course.

The chapters in ``notebooks/`` teach; this package holds the code they share.
Importing it is cheap: submodules (``genre_lab.data``, ``genre_lab.features`` ...)
load torch, librosa and friends only when imported themselves.
"""

__version__ = "0.1.0"

#: The ten GTZAN genres, in GTZAN's (alphabetical) order: label ``i`` is ``GENRES[i]``.
GENRES = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

__all__ = ["GENRES", "__version__"]
