"""A chapter's lessons, asserted with their margins.

A sentence that ranks, compares or concludes ("the ResNet beats the pixel MLP") is a claim
about trained models and measurements, and a claim can hold on one machine and seed and fail
on another. Each is checked in the cell after the sentence with :func:`check`, which asserts
it like ``assert`` does and records how far it was from failing. ``benchmarks/claims.py``
collects the record of every chapter under each condition of its grid (training seeds,
threads, instruction sets) and reports each lesson's worst margin.

>>> from genre_lab import lessons
>>> lessons.check("noise raises the zero-crossing rate", 0.16, 0.09)
0.07
"""

from __future__ import annotations

#: statement -> {"value", "bound", "margin", "holds"} of this process's checks, last one wins
RECORD: dict[str, dict] = {}


class LessonFailed(AssertionError):
    """A lesson did not hold on this run: the page's sentence is wrong here."""


def check(statement: str, value: float, bound: float, *, at_most: bool = False,
          strict: bool = True) -> float:
    """Assert that ``value`` is above ``bound`` (below with ``at_most=True``) and return the
    margin, positive when the lesson holds: ``value - bound`` (``bound - value``).

    ``strict=False`` lets a tie hold (for "at least" lessons). The statement is the lesson in
    words, as the page says it; :data:`RECORD` keeps the outcome under it.
    """
    value, bound = float(value), float(bound)
    margin = bound - value if at_most else value - bound
    holds = margin > 0 or (not strict and margin == 0)
    RECORD[statement] = dict(value=value, bound=bound, margin=round(margin, 12), holds=holds)
    if not holds:
        relation = ("<" if strict else "<=") if at_most else (">" if strict else ">=")
        raise LessonFailed(f"{statement}: needs {value:.4g} {relation} {bound:.4g} "
                           f"(margin {margin:+.4g})")
    return round(margin, 12)


def recorded() -> dict[str, dict]:
    """The lessons checked so far in this process (a copy)."""
    return {statement: dict(outcome) for statement, outcome in RECORD.items()}
