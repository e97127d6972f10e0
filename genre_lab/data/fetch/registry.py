"""The registry: every downloadable file, with its URLs, its hash and its unpacking bounds
(the split lists, the GTZAN archive, FMA's zips)."""

from __future__ import annotations

from dataclasses import dataclass

_GiB = 1 << 30


@dataclass(frozen=True)
class Entry:
    """A downloadable file: where it may be had, and the sha256 it must have (or the hash
    of another algorithm that pooch knows, named by ``alg``: FMA publishes sha1 sums).
    An archive also has bounds on what it may unpack to (bytes, members): a few times
    what the real one holds, so that a damaged or hostile archive cannot fill the disk."""

    fname: str
    urls: tuple[str, ...]
    sha256: str | None
    alg: str = "sha256"
    max_unpacked: int = 6 * _GiB
    max_members: int = 20_000


_SPLIT_MIRRORS = (
    "https://raw.githubusercontent.com/coreyker/dnn-mgr/master/gtzan/{}",
    "https://raw.githubusercontent.com/jongpillee/music_dataset_split/master/GTZAN_split/{}",
    "https://raw.githubusercontent.com/jordipons/sklearn-audio-transfer-learning/master/"
    "data/index/GTZAN/{}",
)
#: The fault-filtered split lists (443 / 197 / 290 tracks).
SPLITS = {
    name: Entry(name, tuple(m.format(name) for m in _SPLIT_MIRRORS), sha)
    for name, sha in [
        ("train_filtered.txt", "2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa"),
        ("valid_filtered.txt", "f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956"),
        ("test_filtered.txt", "09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72"),
    ]
}
#: The original GTZAN archive; the hash is the one torchaudio's GTZAN loader checks.
GTZAN = Entry(
    "genres.tar.gz",
    ("http://opihi.cs.uvic.ca/sound/genres.tar.gz",
     "https://web.archive.org/web/20220328223413/http://opihi.cs.uvic.ca/sound/genres.tar.gz"),
    "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
    max_unpacked=6 * _GiB, max_members=20_000,  # 1.2 GB in 1,010 members (Kaggle's: ~2,000)
)
#: FMA (Defferrard et al. 2017): the metadata and the audio subsets, with the sha1 sums and
#: URLs of mdeff/fma README.md (release of 2017-05-09) and sizes as it states them.
#: Unpacking bounds: MP3s do not compress, so ~4x the zip; the metadata's CSVs do (bound:
#: 35x the zip). Members: ~3x the clips (8,000 / 25,000 / 106,574 / 106,574).
FMA = {
    name: Entry(f"fma_{name}.zip", (f"https://os.unil.cloud.switch.ch/fma/fma_{name}.zip",),
                sha1, alg="sha1", max_unpacked=gib * _GiB, max_members=members)
    for name, sha1, gib, members in [
        ("metadata", "f0df49ffe5f2a6008d7dc83c6915b31835dfe733", 12, 1_000),
        ("small", "ade154f733639d52e35e32f5593efe5be76c6d70", 30, 30_000),
        ("medium", "c67b69ea232021025fca9231fc1c7c1a063ab50b", 90, 80_000),
        ("large", "497109f4dd721066b5ce5e5f250ec604dc78939e", 400, 350_000),
        ("full", "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab", 3600, 350_000)]
}
FMA_SIZES = {"metadata": "342 MiB", "small": "7.2 GiB", "medium": "22 GiB", "large": "93 GiB",
             "full": "879 GiB"}
