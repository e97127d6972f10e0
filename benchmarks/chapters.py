"""Time every chapter, in order, as a student would run them, measure its peak memory, and
write the table the instructor guide shows (``benchmarks/chapter_times.md``).

    python benchmarks/chapters.py                      # current profile, fresh caches
    GENRE_LAB_PROFILE=standard python benchmarks/chapters.py --chapters 01 04

A fresh cache folder is used unless ``--warm``: the times include generating the synthetic
set, computing features and training, as on a first run.

Memory, per chapter: the kernel's peak resident set (``getrusage`` in a last cell the script
adds), and the peak of the kernel and its worker processes together (joblib's, which stay
alive between cells so ``RUSAGE_CHILDREN`` misses them), sampled every 0.2 s with psutil.
That sum counts the shared libraries once per process: an upper bound on what a student's
server needs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat
import psutil  # comes with IPython

ROOT = Path(__file__).resolve().parents[1]


MB = 2**20
#: Run last in the kernel: its own peak RSS and its largest finished child's, in bytes
#: (ru_maxrss is in KiB on Linux, in bytes on macOS).
PEAK_CELL = """import json, resource, sys
_unit = 1 if sys.platform == "darwin" else 1024
print(json.dumps([_unit * resource.getrusage(who).ru_maxrss
                  for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]))"""


class TreePeak(threading.Thread):
    """The peak summed RSS of this process's descendants (the kernel and its workers)."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval, self.peak, self.done = interval, 0, threading.Event()

    def run(self):
        me = psutil.Process()
        while not self.done.wait(self.interval):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # ended meanwhile
                    pass
            self.peak = max(self.peak, total)


def run_notebook(path: Path) -> tuple[float, list[tuple[float, int, str]], dict]:
    """The notebook's run time, (seconds, number, first line) of each code cell, and its
    peak memory in MB: the kernel's (``kernel``), its finished child processes'
    (``children``), and the kernel with its live workers, sampled (``tree``)."""
    nb = jupytext.read(path)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = nbclient.NotebookClient(nb, timeout=3600, kernel_name="python3",
                                     record_timing=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    sampler = TreePeak()
    sampler.start()
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        sampler.done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    peak = nb.cells.pop()
    kernel, children = json.loads(peak.outputs[0]["text"])
    memory = {"kernel": kernel / MB, "children": children / MB, "tree": sampler.peak / MB}
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = []
    for number, cell in enumerate(code, 1):
        stamps = cell.metadata.get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            began, ended = (datetime.datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                            for k in ("iopub.execute_input", "shell.execute_reply"))
            cells.append(((ended - began).total_seconds(), number,
                          cell.source.splitlines()[0]))
    return seconds, cells, memory


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
        seconds, cells, memory = run_notebook(path)
        rows.append((path.stem, seconds, budget, memory))
        slowest = max(cells, default=(0.0, 0, ""))
        print(f"{path.stem:28s} {seconds:6.1f} s   (budget {budget} s); slowest cell "
              f"{slowest[0]:.1f} s: code cell {slowest[1]}, {slowest[2][:40]!r}; peak memory "
              f"kernel {memory['kernel']:.0f} MB, with workers {memory['tree']:.0f} MB "
              f"(largest finished child {memory['children']:.0f} MB)", flush=True)
    total = sum(r[1] for r in rows)
    most = max((r[3]["tree"] for r in rows), default=0.0)
    kernel = max((r[3]["kernel"] for r in rows), default=0.0)
    lines = [
        f"Profile `{profile}`, data: {data}, {'warm' if args.warm else 'cold'} caches, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), measured "
        f"{datetime.date.today().isoformat()} with `python benchmarks/chapters.py`.",
        "",
        "| chapter | time (s) | budget (s) | kernel peak (MB) | with workers (MB) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {name} | {seconds:.0f} | {budget} | {memory['kernel']:.0f} | "
          f"{memory['tree']:.0f} |" for name, seconds, budget, memory in rows],
        f"| **all chapters** | **{total:.0f}** | {sum(r[2] or 0 for r in rows)} | "
        f"**{kernel:.0f}** (max) | **{most:.0f}** (max) |",
        "",
        "Kernel peak: the chapter's kernel process (`getrusage`); with workers: the kernel and "
        "its joblib worker processes together, sampled every 0.2 s (shared libraries "
        "counted once per process, so an upper bound). Each chapter runs in a fresh kernel.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"total {total:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
