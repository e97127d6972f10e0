"""Time every chapter, in order, as a student would run them, measure its peak memory, and
write the table the instructor guide shows (``benchmarks/chapter_times.md``), with the cells
where the seconds go, and the README's chapter table.

    python benchmarks/chapters.py                      # current profile, fresh caches
    python benchmarks/chapters.py --isa avx2           # computing as a CPU without AVX-512
    GENRE_LAB_PROFILE=standard python benchmarks/chapters.py --chapters 01 04

Each run's figures are kept in ``benchmarks/chapter_times.json`` by instruction set, so the
table shows the native run and the ``--isa avx2`` run (tools/avx2.py's caps: NumPy, torch,
oneDNN, MKL and OpenBLAS held to AVX2 and FMA, as on an AMD EPYC) side by side. The kernels
get one torch/BLAS thread per two cores, as in ``make book`` (unless OMP_NUM_THREADS is set).

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
import sys
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


RESULTS = ROOT / "benchmarks" / "chapter_times.json"
README = ROOT / "README.md"
#: A cell is listed in the breakdown when it takes at least this share of its chapter.
CELL_SHARE = 0.05


def render(results: dict) -> str:
    """The markdown table of every chapter and instruction set, then the slowest cells."""
    isas = [isa for isa in ("native", "avx2") if isa in results]
    runs = {isa: results[isa] for isa in isas}
    names = sorted({name for run in runs.values() for name in run["chapters"]})
    label = {"native": "native (s)", "avx2": "AVX2 caps (s)"}
    lines = [" ".join(f"`{isa}`: {run['when']}, profile `{run['profile']}`, data: "
                      f"{run['data']}, {run['cache']} caches, {run['cores']} CPU cores "
                      f"({run['cpu']}), {run['threads']} torch thread(s);"
                      for isa, run in runs.items()).rstrip(";") +
             ", measured with `python benchmarks/chapters.py [--isa avx2]`.", "",
             "| chapter | budget (s) | " + " | ".join(label[i] for i in isas) +
             " | kernel peak (MB) | with workers (MB) |",
             "|---|---:|" + "---:|" * len(isas) + "---:|---:|"]
    first = runs[isas[0]]["chapters"]
    for name in names:
        rows = [runs[i]["chapters"].get(name) for i in isas]
        any_row = next(r for r in rows if r)
        over = [r and r["seconds"] > (any_row["budget"] or 0) for r in rows]
        times = [("-" if r is None else f"{'**' if o else ''}{r['seconds']:.0f}"
                  f"{'** (over)' if o else ''}") for r, o in zip(rows, over, strict=True)]
        memory = (first.get(name) or any_row)["memory"]
        lines.append(f"| {name} | {any_row['budget']} | " + " | ".join(times) +
                     f" | {memory['kernel']:.0f} | {memory['tree']:.0f} |")
    totals = [sum(r["seconds"] for r in runs[i]["chapters"].values()) for i in isas]
    budget = sum(r["budget"] or 0 for r in (runs[isas[0]]["chapters"]).values())
    lines += [f"| **all chapters** | {budget} | " + " | ".join(f"**{t:.0f}**" for t in totals)
              + " | | |", "",
              "Kernel peak: the chapter's kernel process (`getrusage`); with workers: the "
              "kernel and its joblib worker processes together, sampled every 0.2 s (shared "
              "libraries counted once per process, so an upper bound). Each chapter runs in "
              "a fresh kernel, in order, on fresh caches.", "",
              f"### Where the seconds go (cells taking {CELL_SHARE:.0%} or more of their "
              "chapter)", "",
              "| chapter | cell | first line | " + " | ".join(label[i] for i in isas) + " |",
              "|---|---:|---|" + "---:|" * len(isas)]
    for name in names:
        base = runs[isas[0]]["chapters"].get(name)
        if not base:
            continue
        for seconds, number, first_line in sorted(base["cells"], reverse=True):
            if seconds < CELL_SHARE * base["seconds"]:
                break
            cells = [{n: t for t, n, _ in (runs[i]["chapters"].get(name) or {"cells": []})
                      ["cells"]}.get(number) for i in isas]
            text = first_line.replace("|", "\\|")[:60]
            lines.append(f"| {name} | {number} | `{text}` | " +
                         " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def update_readme(results: dict) -> None:
    """The README chapter table's last column: the native and AVX2 seconds of each chapter."""
    isas = [isa for isa in ("native", "avx2") if isa in results]
    text = README.read_text()
    out = []
    for line in text.splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and "](notebooks/" in line and len(cells) >= 5:
            stem = line.split("](notebooks/", 1)[1].split(".md)", 1)[0]
            seconds = [results[i]["chapters"].get(stem, {}).get("seconds") for i in isas]
            cells[-1] = " / ".join("-" if s is None else f"{s:.0f} s" for s in seconds) + " |"
            line = " | ".join(cells)
        elif line.startswith("| # | chapter |"):
            line = line.rsplit("|", 2)[0] + "| measured (" + \
                " / ".join("native" if i == "native" else "AVX2" for i in isas) + ") |"
        out.append(line)
    README.write_text("\n".join(out) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="e.g. 01 04 (default: all)")
    parser.add_argument("--warm", action="store_true", help="keep the current cache folder")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native",
                        help="avx2: the kernels compute as a CPU without AVX-512 (tools/avx2.py)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "chapter_times.md")
    parser.add_argument("--no-readme", action="store_true",
                        help="leave README.md's chapter table as it is")
    args = parser.parse_args(argv)

    if args.isa == "avx2":
        sys.path.insert(0, str(ROOT / "tools"))
        import avx2

        os.environ.update(avx2.environment())  # the kernels inherit the caps
    threads = os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    os.environ.setdefault("MKL_NUM_THREADS", threads)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))
    if args.chapters:
        paths = [p for p in paths if p.name[:2] in args.chapters]
    if not args.warm:
        os.environ["GENRE_LAB_CACHE"] = tempfile.mkdtemp(prefix="genre-lab-times-")
    chapters = {}
    for path in paths:
        budget = jupytext.read(path).metadata.get("genre_lab", {}).get("budget_seconds")
        seconds, cells, memory = run_notebook(path)
        chapters[path.stem] = dict(seconds=seconds, budget=budget, memory=memory, cells=cells)
        slowest = sorted(cells, reverse=True)[:3]
        print(f"{path.stem:28s} {seconds:6.1f} s   (budget {budget} s); slowest cells: " +
              ", ".join(f"{c[1]} ({c[0]:.1f} s)" for c in slowest) +
              f"; peak memory kernel {memory['kernel']:.0f} MB, with workers "
              f"{memory['tree']:.0f} MB", flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    run = results.get(args.isa, {"chapters": {}}) if args.chapters else {"chapters": {}}
    run["chapters"].update(chapters)
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) \
        if Path("/proc/cpuinfo").exists() else platform.machine()
    run.update(when=datetime.date.today().isoformat(), cores=os.cpu_count(), cpu=cpu,
               threads=threads, cache="warm" if args.warm else "cold",
               profile=os.environ.get("GENRE_LAB_PROFILE", "quick"),
               data=os.environ.get("GENRE_LAB_DATA") or "synthetic")
    results[args.isa] = run
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    args.out.write_text(render(results))
    if not args.no_readme:
        update_readme(results)
    total = sum(c["seconds"] for c in chapters.values())
    print(f"total {total:.0f} s; wrote {args.out}, {RESULTS.name}"
          f"{'' if args.no_readme else ', README.md'}")


if __name__ == "__main__":
    main()
