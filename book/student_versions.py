"""Write the student versions of the chapters: every solution cell (tag ``solution``) is
replaced by an empty cell to fill in, and the result is saved as a notebook.

    python book/student_versions.py --out student/      (or: make student)

Solutions are written once, in the chapters; the exercise versions are generated from them
(the scikit-learn-mooc habit), so the two never drift apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PLACEHOLDER = "# Your solution here\n"


def without_solutions(nb):
    """The notebook with each solution cell emptied (its position kept)."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution" in tags:
            cell.source = PLACEHOLDER
            cell.metadata["tags"] = [t for t in tags if t not in ("solution", "hide-cell")]
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
    return nb


def write_student_versions(out, notebooks=NOTEBOOKS) -> list[Path]:
    """Write ``out/NN-topic.ipynb`` for every chapter; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(Path(notebooks).glob("[0-9][0-9]-*.md")):
        target = out / source.with_suffix(".ipynb").name
        jupytext.write(without_solutions(jupytext.read(source)), target)
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("student"))
    args = parser.parse_args(argv)
    for path in write_student_versions(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
