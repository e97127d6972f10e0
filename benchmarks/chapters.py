"""Time every chapter, in order, as a student would run them, and write the table the
instructor guide shows (``benchmarks/chapter_times.md``).

    python benchmarks/chapters.py                      # current profile, fresh caches
    GENRE_LAB_PROFILE=standard python benchmarks/chapters.py --chapters 01 04

A fresh cache folder is used unless ``--warm``: the times include generating the synthetic
set, computing features and training, as on a first run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(path: Path) -> tuple[float, list[tuple[float, int, str]]]:
    """The notebook's run time, and (seconds, number, first line) of each code cell."""
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=3600, kernel_name="python3",
                                     record_timing=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = []
    for number, cell in enumerate(code, 1):
        stamps = cell.metadata.get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            began, ended = (datetime.datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                            for k in ("iopub.execute_input", "shell.execute_reply"))
            cells.append(((ended - began).total_seconds(), number,
                          cell.source.splitlines()[0]))
    return seconds, cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="e.g. 01 04 (default: all)")
    parser.add_argument("--warm", action="store_true", help="keep the current cache folder")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "chapter_times.md")
    args = parser.parse_args(argv)

    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))
    if args.chapters:
        paths = [p for p in paths if p.name[:2] in args.chapters]
    if not args.warm:
        os.environ["GENRE_LAB_CACHE"] = tempfile.mkdtemp(prefix="genre-lab-times-")
    profile = os.environ.get("GENRE_LAB_PROFILE", "quick")
    data = os.environ.get("GENRE_LAB_DATA") or "synthetic"
    rows = []
    for path in paths:
        budget = jupytext.read(path).metadata.get("genre_lab", {}).get("budget_seconds")
        seconds, cells = run_notebook(path)
        rows.append((path.stem, seconds, budget))
        slowest = max(cells, default=(0.0, 0, ""))
        print(f"{path.stem:28s} {seconds:6.1f} s   (budget {budget} s); slowest cell "
              f"{slowest[0]:.1f} s: code cell {slowest[1]}, {slowest[2][:40]!r}", flush=True)
    total = sum(r[1] for r in rows)
    lines = [
        f"Profile `{profile}`, data: {data}, {'warm' if args.warm else 'cold'} caches, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), measured "
        f"{datetime.date.today().isoformat()} with `python benchmarks/chapters.py`.",
        "",
        "| chapter | time (s) | budget (s) |",
        "|---|---:|---:|",
        *[f"| {name} | {seconds:.0f} | {budget} |" for name, seconds, budget in rows],
        f"| **all chapters** | **{total:.0f}** | {sum(r[2] or 0 for r in rows)} |",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"total {total:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
