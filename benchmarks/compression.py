"""Compression benchmark: every variant of chapter 7, measured the same way, and its targets.

Usage::

    python benchmarks/compression.py                     # quick profile, 1 thread
    python benchmarks/compression.py --threads 2 --repeats 300
    python benchmarks/compression.py --check             # exit 1 when a target is missed
    python benchmarks/compression.py --emulate           # int8 accuracy on a CPU without VNNI
    GENRE_LAB_DATA=~/data/gtzan python benchmarks/compression.py   # the real GTZAN

Trains (or loads from the model cache) chapter 4's ResNet and the two students, builds
every variant (fp32; unstructured and channel pruning, fine-tuned one epoch; fp32, dynamic
and static int8 with ONNX Runtime, static int8 also with 8-bit weights and with signed int8
activations, the settings the course does not recommend; the students, plain and distilled,
and the distilled one in static int8), measures each (parameters, bytes on disk, batch-1
latency: median after warm-up; throughput at batch 64; segment and track accuracy on the test
split) and prints the table, the targets, and as its last line a JSON list with one object per
variant.

It prints the CPU features that decide ONNX Runtime's int8 kernels (VNNI or not, AVX2,
AVX-512, NEON) and the quantization settings. Int8 accuracy can depend on the CPU: on x86
CPUs without VNNI, 8-bit weights can overflow the kernels' 16-bit pair sums
(``genre_lab.compress.cpu``). ``--emulate`` re-measures the int8 variants' accuracy with
ONNX Runtime running under QEMU's emulation of such a CPU (Haswell: AVX2, no AVX-512, no
VNNI; ``apt-get install qemu-user``), whatever this machine has; that takes several minutes
per variant.

Targets (on the synthetic quick profile): static int8 at least 3.5x smaller than the fp32
file and 1.5x faster at batch 1 with at most one point of segment accuracy lost (also on the
emulated CPU with ``--emulate``); the distilled student's file at least 4x smaller than the
teacher's. How the students' accuracy compares with the teacher's and with each other changes
from one training run to the next (another seed, or another number of torch threads:
``benchmarks/claims.md``), so the benchmark prints those differences without a target.
Latencies are this machine's.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="resnet",
                   help="teacher: a model name, or 'best' for chapter 4's pick by validation "
                        "between lenet5 and resnet")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for every timing")
    p.add_argument("--repeats", type=int, default=100, help="timed batch-1 calls per variant")
    p.add_argument("--sparsity", type=float, default=0.8,
                   help="unstructured (global L1) pruning amount")
    p.add_argument("--channels", type=float, default=0.5,
                   help="fraction of each residual block's inner channels pruned")
    p.add_argument("--student-widths", type=int, nargs=4, default=(8, 16, 32, 48),
                   metavar="W", help="channel widths of the student ResNet")
    p.add_argument("--temperature", type=float, default=2.0, help="distillation temperature")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the teacher's targets")
    p.add_argument("--calibration", type=int, default=256,
                   help="training segments for static int8 calibration")
    p.add_argument("--keep", type=Path, default=None,
                   help="write the artefacts here (default: a temporary folder)")
    p.add_argument("--emulate", nargs="?", const="Haswell-v4", default=None, metavar="CPU",
                   help="also measure int8 accuracy under qemu-x86_64 -cpu CPU")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("GENRE_LAB_CACHE", str(PROJECT / ".cache" / "genre-lab"))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(PROJECT / ".cache" / "numba"))
    import pandas as pd

    from genre_lab import checkpoint, compress, config, dataset, experiment, models
    from genre_lab.data import load_tracks

    start = time.perf_counter()
    stamp = lambda: f"[{time.perf_counter() - start:5.1f} s]"  # noqa: E731
    profile = config.get_profile()
    print(f"CPU: {compress.cpu.describe()}")
    print("static int8: U8S8 (uint8 activations, int8 weights), 7-bit weights (ONNX Runtime's "
          "reduce_range), one scale per output channel, QDQ format, min/max calibration on "
          f"{args.calibration} training segments")
    data = dataset.prepare(load_tracks(), split="track", seed=0, progress=False)
    save = functools.partial(checkpoint.save, settings=data.settings)
    cfg = experiment.recipe("resnet", profile)  # the students train as chapter 7's do
    if args.model == "best":  # each model's recipe, as in chapter 4
        teacher = experiment.best_of(["lenet5", "resnet"], data, progress=False)
    else:
        teacher = experiment.train_model(args.model, data, progress=False)
    print(f"{stamp()} teacher {teacher.name} ({profile.name} profile, "
          f"{'real GTZAN' if config.data_root() else 'synthetic'} data)", file=sys.stderr)
    x, y, ids = data.arrays("test", ["logmel"])
    test = (x[0], y, ids)
    calibration = data.side("train", "logmel").X[:args.calibration]
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="genre-lab-bench-")
    work = args.keep or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    rows = []

    def add(name, model, path, params):
        rows.append(compress.measure(name, model, path, test, params=params,
                                     threads=args.threads, repeats=args.repeats))
        print(f"{stamp()} {name}", file=sys.stderr)

    n_params = models.count_parameters(teacher.model)
    add("fp32", teacher.model, save(teacher.model, work / "fp32.pt"), n_params)

    pruned = compress.prune_unstructured(teacher.model, args.sparsity, permanent=False)
    compress.fine_tune(pruned, data, epochs=1, lr=3e-4)
    compress.make_permanent(pruned)
    path = save(pruned, work / "pruned.pt", sparse=True)
    add(f"pruned-{args.sparsity:.0%}", pruned, path, compress.count_nonzero(pruned))

    masked = compress.prune_channels(teacher.model, args.channels, permanent=False)
    compress.fine_tune(masked, data, epochs=1, lr=1e-3)
    thin = compress.shrink(masked)
    path = save(thin, work / "channels.pt")
    add(f"pruned-channels-{args.channels:.0%}", thin, path, models.count_parameters(thin))

    fp32_onnx = compress.export_onnx(teacher.model, work / "fp32.onnx")
    add("fp32-onnxruntime", compress.OnnxModel(fp32_onnx, threads=args.threads), fp32_onnx,
        n_params)
    dynamic = compress.quantize_dynamic(fp32_onnx, work / "dynamic-int8.onnx")
    add("dynamic-int8", compress.OnnxModel(dynamic, threads=args.threads), dynamic, n_params)
    static = compress.quantize_static(fp32_onnx, work / "static-int8.onnx", calibration)
    add("static-int8", compress.OnnxModel(static, threads=args.threads), static, n_params)
    int8_files = {"static-int8": static}
    for name, options in [("static-int8 (8-bit weights)", dict(weight_bits=8)),
                          ("static-int8 (int8 activations)", dict(activations="int8"))]:
        path = compress.quantize_static(fp32_onnx, work / f"{name}.onnx", calibration, **options)
        add(name, compress.OnnxModel(path, threads=args.threads), path, n_params)
        int8_files[name] = path

    widths = dict(widths=tuple(args.student_widths))
    plain = experiment.train_model("resnet", data, cfg, progress=False, **widths)
    path = save(plain.model, work / "student.pt")
    n_student = models.count_parameters(plain.model)
    add("student", plain.model, path, n_student)
    distill = experiment.Distillation(teacher, temperature=args.temperature, alpha=args.alpha)
    distilled = experiment.train_model("resnet", data, cfg, progress=False, distill=distill,
                                       **widths)
    path = save(distilled.model, work / "student-distilled.pt")
    add("student-distilled", distilled.model, path, n_student)
    student_onnx = compress.export_onnx(distilled.model, work / "student.onnx")
    student_int8 = compress.quantize_static(student_onnx, work / "student-static-int8.onnx",
                                            calibration)
    add("student-distilled-static-int8", compress.OnnxModel(student_int8, threads=args.threads),
        student_int8, n_student)

    emulated = {}
    if args.emulate:
        from genre_lab.evaluate import evaluate

        found, outputs = compress.cpu.run_emulated(list(int8_files.values()), test[0],
                                                   cpu_model=args.emulate)
        print(f"{stamp()} emulated {args.emulate}: {compress.cpu.describe(found)}",
              file=sys.stderr)
        for name, logits in zip(int8_files, outputs, strict=True):
            emulated[name] = evaluate(logits, y, ids)["segment_accuracy"]

    table = compress.variant_table(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string())
    s, f, o = table.loc["static-int8"], table.loc["fp32"], table.loc["fp32-onnxruntime"]
    d, p = table.loc["student-distilled"], table.loc["student"]
    targets = [
        ("static int8 >= 3.5x smaller", s["smaller ×"], s["smaller ×"] >= 3.5),
        ("static int8 >= 1.5x faster at batch 1 (vs torch fp32)", s["faster ×"],
         s["faster ×"] >= 1.5),
        ("static int8 >= 1.5x faster at batch 1 (vs ONNX Runtime fp32)",
         o.latency_ms_b1 / s.latency_ms_b1, o.latency_ms_b1 / s.latency_ms_b1 >= 1.5),
        ("static int8 loses <= 1 point (segments)", s.accuracy - f.accuracy,
         s.accuracy >= f.accuracy - 0.01),
        ("student <= 1/4 of the teacher's parameters", n_student / n_params,
         n_student <= n_params / 4),
        ("distilled student's file >= 4x smaller", d["smaller ×"], d["smaller ×"] >= 4),
    ]
    print(f"\nstudents against the teacher (segments): plain {p.accuracy - f.accuracy:+.3f}, "
          f"distilled {d.accuracy - f.accuracy:+.3f}; distilled against plain "
          f"{d.accuracy - p.accuracy:+.3f} (no target: it changes from run to run)")
    if emulated:
        print("\nsegment accuracy with ONNX Runtime on an emulated CPU "
              f"(qemu -cpu {args.emulate}):")
        for name, accuracy in emulated.items():
            print(f"  {name:32s} {accuracy:.3f}  (here {table.loc[name, 'accuracy']:.3f}, "
                  f"fp32 {f.accuracy:.3f})")
        targets.append((f"static int8 loses <= 1 point on {args.emulate} (segments)",
                        emulated["static-int8"] - f.accuracy,
                        emulated["static-int8"] >= f.accuracy - 0.01))
    print(f"\ntargets ({args.threads} thread(s); Wei, Chen & Lu: quantized 3.93x, "
          "0.7374 -> 0.7273, no speed-up; pruned MLP 5.49x):")
    for name, value, ok in targets:
        print(f"  {'met   ' if ok else 'MISSED'} {name}: {value:+.3f}")
    print(f"total {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if tmp:
        tmp.cleanup()
    keys = ["variant", "params", "size_bytes", "latency_ms_b1", "throughput", "accuracy",
            "track_accuracy"]
    print(json.dumps([{k: (round(r[k], 4) if isinstance(r[k], float) else r[k]) for k in keys}
                      for r in rows]))
    return 1 if args.check and not all(ok for *_, ok in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
