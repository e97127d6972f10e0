"""Every exercise has a solution; the student versions have none."""

from __future__ import annotations

import importlib.util
import re

import jupytext
import pytest

from conftest import PROJECT

CHAPTERS = sorted((PROJECT / "notebooks").glob("[0-9][0-9]-*.md"))
spec = importlib.util.spec_from_file_location("student_versions",
                                              PROJECT / "book" / "student_versions.py")
student_versions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_versions)


def exercises(nb) -> list[int]:
    """Numbers of the exercises listed under the chapter's "## Exercises" heading."""
    numbers, inside = [], False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("## "):
                inside = line.strip() == "## Exercises"
            elif inside and (m := re.match(r"^(\d+)\. ", line)):
                numbers.append(int(m.group(1)))
    return numbers


def solutions(nb) -> list[int]:
    found = []
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            m = re.match(r"^# Solution (\d+)", cell.source)
            assert m, f"a solution cell must start with '# Solution N': {cell.source[:60]!r}"
            assert "hide-cell" in cell.metadata["tags"], "solutions are collapsed in the book"
            found.append(int(m.group(1)))
    return found


def test_there_are_chapters():
    assert len(CHAPTERS) >= 5


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_exercise_has_one_solution(path):
    nb = jupytext.read(path)
    numbers = exercises(nb)
    assert numbers, f"{path.name} has no exercises"
    assert sorted(solutions(nb)) == sorted(numbers) == list(range(1, len(numbers) + 1))


def test_student_versions_have_no_solutions(tmp_path):
    written = student_versions.write_student_versions(tmp_path)
    assert [p.stem for p in written] == [p.stem for p in CHAPTERS]
    for path in written:
        nb = jupytext.read(path)
        original = jupytext.read(PROJECT / "notebooks" / f"{path.stem}.md")
        assert len(nb.cells) == len(original.cells)
        for cell in nb.cells:
            assert "solution" not in cell.metadata.get("tags", [])
            assert "# Solution" not in cell.source
        placeholders = sum(c.source == student_versions.PLACEHOLDER for c in nb.cells)
        assert placeholders == len(solutions(original)) > 0
