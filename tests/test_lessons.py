"""genre_lab.lessons: a lesson holds or fails like an assert, and its margin is recorded for
benchmarks/claims.py, whose report shows each lesson's worst margin."""

import importlib.util
from pathlib import Path

import pytest

from genre_lab import lessons


@pytest.fixture(autouse=True)
def empty_record():
    lessons.RECORD.clear()
    yield
    lessons.RECORD.clear()


def test_a_lesson_that_holds_returns_and_records_its_margin():
    assert lessons.check("a beats b", 0.75, 0.60) == pytest.approx(0.15)
    assert lessons.check("a close to b", abs(0.62 - 0.66), 0.1, at_most=True) == \
        pytest.approx(0.06)
    assert lessons.recorded() == {
        "a beats b": dict(value=0.75, bound=0.60, margin=pytest.approx(0.15), holds=True),
        "a close to b": dict(value=pytest.approx(0.04), bound=0.1, margin=pytest.approx(0.06),
                             holds=True)}


def test_a_lesson_that_fails_raises_an_assertion_and_is_recorded_with_its_margin():
    with pytest.raises(AssertionError, match=r"a beats b: needs 0.5 > 0.6 \(margin -0.1\)"):
        lessons.check("a beats b", 0.5, 0.6)
    assert lessons.RECORD["a beats b"]["holds"] is False
    assert lessons.RECORD["a beats b"]["margin"] == pytest.approx(-0.1)
    with pytest.raises(lessons.LessonFailed, match="<"):
        lessons.check("small", 0.2, 0.1, at_most=True)


def test_ties_fail_unless_the_lesson_says_at_least():
    with pytest.raises(lessons.LessonFailed):
        lessons.check("strictly better", 0.5, 0.5)
    assert lessons.check("at least as good", 0.5, 0.5, strict=False) == 0


def test_the_claims_report_gives_each_lessons_worst_margin_and_where():
    spec = importlib.util.spec_from_file_location(
        "claims", Path(__file__).parents[1] / "benchmarks" / "claims.py")
    claims = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claims)

    def run(seed, margin):
        outcome = dict(value=0.6 + margin, bound=0.6, margin=margin, holds=margin > 0)
        return dict(threads=1, train_seed=seed, isa="native",
                    values={"lessons": {"resnet beats mlp": outcome}})

    rows = claims._lesson_rows([run(0, 0.1), run(1, -0.02), run(2, 0.05)])
    row = next(line for line in rows if line.startswith("| resnet beats mlp"))
    assert "| 2/3 | -0.02 | 0.58 vs 0.6 | native, 1 thr, seed 1 |" in row
    assert claims._lesson_rows([dict(threads=1, train_seed=0, values={})]) == []
