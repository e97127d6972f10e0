"""The one error every fetch raises, and the one-line form of a message it quotes."""

from __future__ import annotations


class FetchError(RuntimeError):
    """A download or archive that could not be had or did not verify."""


def _one_line(err) -> str:
    return " ".join(str(err).split())
