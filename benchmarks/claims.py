"""Do the chapters' claims hold on other machines? Run chapters under other torch thread
counts and training seeds, record every number their asserts test, and print the spread.

    python benchmarks/claims.py run --threads 1 --train-seed 0 --chapters 04 07
    python benchmarks/claims.py grid --threads 1 2 4 --train-seeds 0 1 2   # every pair
    python benchmarks/claims.py grid --train-seeds 0 1 --jobs 6   # at once, on a big machine
    python benchmarks/claims.py run --threads 2 --isa avx2   # as on a CPU without AVX-512
    python benchmarks/claims.py report                                     # spread table

Why: a trained network's weights depend on the rounding of every sum, and that changes
with the number of torch threads (how a sum is split between them), the CPU's instruction
set (AVX2, AVX-512, NEON) and the BLAS library. A claim that one run makes true may be
false on a student's laptop. Another training seed is a larger perturbation of the same
kind, so the spread over seeds sets the margins that the chapters' asserts need.

``--isa avx2`` makes this machine compute like an x86 CPU without AVX-512, whatever it has:
torch's own kernels (``ATEN_CPU_CAPABILITY``), oneDNN's convolutions
(``ONEDNN_MAX_CPU_ISA``), MKL and OpenBLAS, and NumPy's SIMD loops are limited to AVX2. (ONNX
Runtime has no such switch; its int8 results are checked under emulation instead, see
``genre_lab.compress.cpu.run_emulated``.)

Each ``run`` executes the chapters in a fresh kernel with its own cache folder (data,
features and models are rebuilt: nothing is shared between conditions), with
``OMP_NUM_THREADS`` and ``torch.set_num_threads`` at ``--threads`` and the default
``TrainConfig.seed`` set to ``--train-seed`` (chapters that loop over seeds themselves keep
their seeds). Failing cells are recorded, not fatal. At the end of a chapter every scalar
variable of the notebook (numbers, strings, booleans) is saved, with a few tables per
chapter (``EXTRA``) and the lessons it checked (``genre_lab.lessons.check``: each
statement, its value, bound and margin), as one JSON line per chapter in ``--out`` (default
``benchmarks/claims/``). ``report`` lists, per chapter, each lesson with the number of runs
it held in and its worst margin, every number that differs between conditions with its
range, and every cell that failed, and writes ``benchmarks/claims.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "benchmarks" / "claims"

#: Per chapter, expressions worth recording beside its scalar variables.
EXTRA = {
    "03": {
        "cv_mean": "cv_table['mean'].to_dict()",
        "lr_curve": "list(lr_curve)",
        "leaky_mean": "leaky.mean()",
        "honest_mean": "honest.mean()",
        "knn": "[leaky_knn.mean(), honest_knn.mean()]",
    },
    "04": {
        "mlp_gap": "runs['mlp'].history.train_accuracy[-1] - max(runs['mlp'].history.val_accuracy)",
        "raw_val": "max(raw.history.val_accuracy)",
        "val_best": "{n: max(r.history.val_accuracy) for n, r in runs.items()}",
        "test_segment": "{n: r.result['segment_accuracy'] for n, r in runs.items()}",
        "test_track": "{n: r.result['track_accuracy'] for n, r in runs.items()}",
        "picture_val": "picture_table['val acc (best)'].to_dict()",
        "epochs_run": "{n: len(r.history.val_accuracy) for n, r in runs.items()}",
    },
    "05": {
        "val_best": "{n: max(r.history.val_accuracy) for n, r in runs.items()}",
        "test_track": "{n: r.result['track_accuracy'] for n, r in runs.items()}",
    },
    "06": {
        "summary": "summary[['mean', 'std', 'vs baseline']].to_dict()",
        "coord": "coord.to_dict()",
    },
    "07": {
        "curve": "curve.to_dict('list')",
        "variants": "compress.variant_table(rows)[['accuracy', 'track_accuracy', "
                    "'smaller ×', 'faster ×']].to_dict()",
        "students": "{k: r.validation['segment_accuracy'] for k, r in "
                    "[('teacher', teacher), ('plain', plain_student), ('distilled', distilled)]}",
    },
    "08": {
        "summary": "summary.to_dict()",
        "lengths": "lengths[['mean', 'std', 'track_mean', 'track_std']].to_dict()",
        "widths": "widths",
        "mcnemar": "test",
    },
}

PRELUDE = """\
import inspect as _inspect, torch as _torch
_torch.set_num_threads({threads})
import genre_lab.train as _train
_names = [p.name for p in _inspect.signature(_train.TrainConfig).parameters.values()
          if p.default is not _inspect.Parameter.empty]
_defaults = list(_train.TrainConfig.__init__.__defaults__)
_defaults[_names.index("seed")] = {seed}
_train.TrainConfig.__init__.__defaults__ = tuple(_defaults)
"""

DUMP = """\
import json as _json, numbers as _numbers
import numpy as _np
def _plain(value):
    if isinstance(value, (bool, str, _np.bool_)):
        return value if isinstance(value, (bool, str)) else bool(value)
    if isinstance(value, _numbers.Number):
        return float(value)
    if isinstance(value, dict):
        return {{str(k): _plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)
_record = {{k: _plain(v) for k, v in dict(globals()).items() if not k.startswith("_")
           and isinstance(v, (bool, str, _numbers.Number, _np.bool_))}}
for _key, _expr in {extra!r}.items():
    try:
        _record[_key] = _plain(eval(_expr))
    except Exception as _error:
        _record[_key] = f"unavailable: {{_error!r}}"
try:
    from genre_lab import lessons as _lessons
    _record["lessons"] = _lessons.recorded()
except ImportError:
    pass
print("CLAIMS " + _json.dumps(_record))
"""


def run_chapter(path: Path, *, threads: int, seed: int) -> dict:
    import jupytext
    import nbclient
    from nbformat.v4 import new_code_cell

    nb = jupytext.read(path)
    n_cells = len(nb.cells)
    nb.cells.insert(0, new_code_cell(PRELUDE.format(threads=threads, seed=seed)))
    nb.cells.append(new_code_cell(DUMP.format(extra=EXTRA.get(path.name[:2], {}))))
    client = nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                                     allow_errors=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    failures, values = [], {}
    try:
        client.execute()
    except Exception as error:  # a cell timeout or a dead kernel: record it, go on
        failures.append(dict(cell=None, ename=type(error).__name__, evalue=str(error)[:300],
                             line="(the run stopped here)"))
    seconds = time.perf_counter() - start
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                source = cell.source.strip().splitlines()
                failures.append(dict(cell=index, ename=output["ename"],
                                     evalue=output["evalue"][:300],
                                     line=next((s for s in reversed(source)
                                                if "assert" in s), source[-1] if source else "")))
            text = output.get("text", "")
            if output.get("output_type") == "stream" and "CLAIMS " in text:
                values = json.loads(text.split("CLAIMS ", 1)[1].splitlines()[0])
    return dict(chapter=path.stem, cells=n_cells, seconds=round(seconds, 1),
                failures=failures, values=values)




def run(args) -> None:
    if args.isa == "avx2":  # the switches that keep each library to AVX2 (tools/avx2.py)
        sys.path.insert(0, str(ROOT))
        from tools import avx2

        os.environ.update(avx2.environment())
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    os.environ["GENRE_LAB_CACHE"] = tempfile.mkdtemp(prefix="genre-lab-claims-")
    args.out.mkdir(parents=True, exist_ok=True)
    isa = "" if args.isa == "native" else f"-{args.isa}"
    target = args.out / f"{platform.node()}{isa}-t{args.threads}-s{args.train_seed}.jsonl"
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.md"))
    if args.chapters:  # in the order given
        paths = [p for chapter in args.chapters for p in paths if p.name[:2] == chapter]
    import onnxruntime
    import torch

    condition = dict(threads=args.threads, train_seed=args.train_seed, isa=args.isa,
                     host=platform.node(),
                     machine=platform.machine(), cpu=_cpu_line(), torch=torch.__version__,
                     onnxruntime=onnxruntime.__version__,
                     profile=os.environ.get("GENRE_LAB_PROFILE", "quick"))
    for path in paths:
        record = {**condition, **run_chapter(path, threads=args.threads, seed=args.train_seed)}
        with target.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"{path.stem} t{args.threads} s{args.train_seed}: {record['seconds']} s, "
              f"{len(record['failures'])} failing cell(s)", flush=True)


def _cpu_line() -> str:
    from genre_lab.compress import cpu

    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").is_file() else platform.processor()
    return f"{model}; {cpu.describe()}"


def grid(args) -> None:
    if args.jobs > 1:
        # fill numba's cache once, before processes that would compile it at once (numba#10128)
        from genre_lab.warmup import compile_librosa_kernels

        compile_librosa_kernels()
    commands = []
    for seed in args.train_seeds:
        for threads in args.threads:
            command = [sys.executable, __file__, "run", "--threads", str(threads),
                       "--train-seed", str(seed), "--out", str(args.out)]
            if args.chapters:
                command += ["--chapters", *args.chapters]
            commands.append(command)
    processes = []
    for command in commands:
        while sum(p.poll() is None for p in processes) >= args.jobs:
            time.sleep(1)
        processes.append(subprocess.Popen(command))
    failed = sum(p.wait() != 0 for p in processes)
    if failed:
        raise SystemExit(f"{failed} condition(s) failed to run")


def _flatten(prefix: str, value, into: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, into)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, into)
    else:
        into[prefix] = value


def _lesson_rows(runs: list[dict]) -> list[str]:
    """Each lesson the chapter checked (genre_lab.lessons) under these conditions: in how
    many it held, and its worst margin, with the condition that gave it."""
    outcomes: dict[str, list] = {}
    for r in runs:
        for statement, outcome in r["values"].get("lessons", {}).items():
            outcomes.setdefault(statement, []).append((outcome, r))
    if not outcomes:
        return []
    rows = ["| lesson | held | worst margin | value vs bound there | at |",
            "|---|---:|---:|---|---|"]
    for statement, seen in outcomes.items():
        outcome, r = min(seen, key=lambda pair: pair[0]["margin"])
        held = sum(o["holds"] for o, _ in seen)
        rows.append(f"| {statement} | {held}/{len(seen)} | {outcome['margin']:+.3g} | "
                    f"{outcome['value']:.4g} vs {outcome['bound']:.4g} | "
                    f"{r.get('isa', 'native')}, {r['threads']} thr, seed {r['train_seed']} |")
    missing = len(runs) - max(len(seen) for seen in outcomes.values())
    note = [f"({missing} run(s) stopped before recording every lesson.)", ""] if missing else []
    return ["Lessons (`genre_lab.lessons.check`): in how many runs each held, and its worst "
            "margin (positive: held).", "", *rows, "", *note]


def report(args) -> None:
    records = [json.loads(line) for path in sorted(args.out.glob("*.jsonl"))
               for line in path.read_text().splitlines() if line.strip()]
    n_conditions = len({(r["host"], r.get("torch"), r.get("isa", "native"), r["threads"],
                         r["train_seed"]) for r in records})
    lines = [f"Claims of the chapters under {n_conditions} conditions "
             "(`python benchmarks/claims.py report`).", ""]
    conditions = sorted({(r["cpu"], r.get("torch", "?"), r.get("isa", "native"), r["threads"],
                          r["train_seed"]) for r in records})
    lines += ["| CPU | torch | instructions | torch threads | training seed |",
              "|---|---|---|---:|---:|"]
    lines += [f"| {c} | {v} | {i} | {t} | {s} |" for c, v, i, t, s in conditions]
    for chapter in sorted({r["chapter"] for r in records}):
        runs = [r for r in records if r["chapter"] == chapter]
        lines += ["", f"## {chapter}", ""]
        for r in runs:
            for failure in r["failures"]:
                lines.append(f"- FAILED at {r['threads']} threads, seed {r['train_seed']}, "
                             f"{r.get('isa', 'native')} "
                             f"({r['cpu']}): cell {failure['cell']}: `{failure['line'].strip()}` "
                             f"{failure['ename']}: {failure['evalue'][:120]}")
        lines += _lesson_rows(runs)
        flat = []
        for r in runs:
            values = {}
            _flatten("", {k: v for k, v in r["values"].items() if k != "lessons"}, values)
            flat.append(values)
        keys = sorted(set().union(*flat))
        rows = []
        for key in keys:
            seen = [v.get(key) for v in flat]
            if len({json.dumps(s) for s in seen}) <= 1:
                continue
            numbers = [s for s in seen if isinstance(s, float)]
            if numbers and len(numbers) == len(seen):
                rows.append(f"| `{key[1:]}` | {min(numbers):.4g} | {max(numbers):.4g} | "
                            f"{max(numbers) - min(numbers):.3g} |")
            else:
                rows.append(f"| `{key[1:]}` | {', '.join(sorted({str(s) for s in seen}))} | | |")
        if rows:
            lines += ["| value | min | max | range |", "|---|---:|---:|---:|", *rows]
        else:
            lines.append("Every recorded value is the same under every condition.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="run chapters under one condition")
    one.add_argument("--threads", type=int, default=1)
    one.add_argument("--train-seed", type=int, default=0)
    one.add_argument("--isa", choices=["native", "avx2"], default="native",
                     help="avx2: compute as an x86 CPU without AVX-512 would")
    many = sub.add_parser("grid", help="run every (threads, seed) pair, one process each")
    many.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    many.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    many.add_argument("--jobs", type=int, default=1, help="conditions run at once")
    for p in (one, many):
        p.add_argument("--chapters", nargs="*", default=None, help="e.g. 04 07 (default: all)")
        p.add_argument("--out", type=Path, default=OUT)
    rep = sub.add_parser("report", help="print the spread of every recorded value")
    rep.add_argument("--out", type=Path, default=OUT)
    rep.add_argument("--write", type=Path, default=ROOT / "benchmarks" / "claims.md")
    args = parser.parse_args(argv)
    # one numba cache for the grid's warm-up and every run it starts (as `make` sets it):
    # a warm-up into another cache leaves the runs compiling at once (numba#10128)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    {"run": run, "grid": grid, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
