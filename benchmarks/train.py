"""Training and inference speed of every model: samples per second, and seconds per epoch at
the full GTZAN size (1000 clips x 10 segments of 3 s, 60% of them for training), and on a
CPU how far each model is from what the CPU's arithmetic allows.

    python benchmarks/train.py                     # the quick profile's input shapes
    python benchmarks/train.py --profile standard  # 128 mel bands x 130 frames
    python benchmarks/train.py --device cuda       # on a GPU: speed and seconds per epoch
    python tools/avx2.py python benchmarks/train.py   # computing as a CPU without AVX-512

Random inputs of the profile's shapes: speed does not depend on the data. Each timing runs
whole training steps (forward, backward, AdamW as in genre_lab.train) or inference batches
for at least ``--min-seconds``, after a warm-up step; the least of ``--repeats`` timings
counts, since other jobs on a shared machine only ever slow a timing down.

On a CPU, per model (Markdown tables on stdout), at ``--batch`` (TrainConfig's, 32):

* segments per core-second: samples over the process's CPU time, which leaves out the time
  other jobs held the cores (what an idle core would do), at 1 thread and at 2 threads (CPU
  time of both, so OpenMP threads spinning while they wait for each other count);
  "CPU share" is CPU time over wall time x threads: below ~0.9 other jobs took cores away;
* FLOPs per training sample (one forward + backward) and per inference sample, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions only; oneDNN is off
  while counting, so that an LSTM decomposes into matmuls the counter sees);
* the bound: the segments per core-second if the model's convolutions ran at the rate of a
  representative conv2d (forward + backward) and its matmuls at the rate of a 1024x1024
  ``torch.mm``, both measured at 1 thread in the same run; and the fraction of it reached;
* where a profiled 1-thread training step's time goes: convolutions and matmuls, AdamW, and
  the rest (batch norm, pooling, dropout, activations, autograd and Python);
* two levers at 1 thread: ``channels_last`` weights (the rank-3 inputs cannot take it, so
  each convolution follows its weights' format), and batch sizes x2 and x4.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import warnings

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from genre_lab import catalog, config, models
from genre_lab.train import TrainConfig

FULL_GTZAN_TRAIN_SEGMENTS = 1000 * 10 * 6 // 10
BATCH_MULTIPLES = (1, 2, 4)
#: fraction of the bound below which a model is called overhead-bound, and above which near
FAR, NEAR = 0.2, 0.5
#: profiler op names whose self time counts as convolution or matmul arithmetic
ARITHMETIC_OPS = re.compile(r"conv|mm|matmul|linear|rnn|lstm|gru")


def shapes_for(name: str, settings: config.FeatureSettings) -> list[tuple[int, int]]:
    frames = settings.n_frames
    rows = {"logmel": settings.n_mels, "mfcc": settings.n_mfcc}
    return [(rows[kind], frames) for kind in catalog.input_kinds(name)]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(step, device, repeats: int, min_seconds: float, warm_up=True) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per call, each the least of ``repeats`` timings, after a
    warm-up call (skip it for a model already warm at another batch size: the best timing
    is a warm one). Each timing runs whole calls for at least ``min_seconds``. CPU seconds
    are the process's (all its threads), so they leave out the time other jobs had the
    cores."""
    if warm_up:
        step()
        synchronize(device)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - start) < min_seconds or not calls:
            step()
            synchronize(device)
            calls += 1
        best_wall = min(best_wall, elapsed / calls)
        best_cpu = min(best_cpu, (time.process_time() - cpu_start) / calls)
    return best_wall, best_cpu


def training(name, shapes, device, channels_last=False):
    """A model in training mode (AdamW, as genre_lab.train trains it), and a function that
    returns a training step (forward, backward, AdamW) on a random batch of a given size."""
    torch.manual_seed(0)
    model = models.build(name, shapes).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=TrainConfig.lr)
    loss_fn = nn.CrossEntropyLoss()

    def step_for(batch):
        xs = [torch.randn(batch, *s, device=device) for s in shapes]
        y = torch.randint(0, 10, (batch,), device=device)

        def step():
            loss = loss_fn(model(*xs), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    return model, step_for


def counted_flops(run, per: int) -> dict[str, float]:
    """FLOPs per sample of ``run()`` by kind (``conv``, ``matmul``), as FlopCounterMode counts.
    oneDNN is off while counting: its fused LSTM would hide the LSTM's matmuls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oneDNN's flags warn about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
            run()
    flops = {"conv": 0.0, "matmul": 0.0}
    for op, count in counter.get_flop_counts()["Global"].items():
        flops["conv" if "convolution" in str(op) else "matmul"] += count / per
    return flops


def model_flops(name, shapes, device, batch=4) -> tuple[dict, dict]:
    """FLOPs per sample of a training step's forward + backward, and of inference."""
    torch.manual_seed(0)
    model = models.build(name, shapes).to(device)
    xs = [torch.randn(batch, *s, device=device) for s in shapes]
    y = torch.randint(0, 10, (batch,), device=device)
    train = counted_flops(lambda: nn.functional.cross_entropy(model(*xs), y).backward(), batch)
    model.eval()
    with torch.no_grad():
        infer = counted_flops(lambda: model(*xs), batch)
    return train, infer


class Speed:
    """Items per second of a timed call, from ``timed``'s (wall, CPU) seconds per call."""

    def __init__(self, items: int, threads: int, wall: float, cpu: float):
        self.per_core = items / cpu  # per second of one core's CPU time
        self.per_thread = items / wall / threads  # by the clock, per thread
        self.share = cpu / (wall * threads)  # of the threads' cores this process got


def cpu_rates(device, repeats, min_seconds) -> dict[str, Speed]:
    """FLOP/s of one thread on a 1024x1024 float32 ``torch.mm`` and on a conv2d forward +
    backward (64 -> 64 channels, 3x3, 32x32 maps: the middle layers of cnn64 and cheng),
    FLOPs counted by FlopCounterMode."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    a, b = torch.randn(1024, 1024, device=device), torch.randn(1024, 1024, device=device)
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(16, 64, 32, 32, device=device, requires_grad=True)
    rates = {}
    for kind, run in (("matmul", lambda: torch.mm(a, b)),
                      ("conv", lambda: conv(x).sum().backward())):
        flops = sum(counted_flops(run, 1).values())
        rates[kind] = Speed(flops, 1, *timed(run, device, repeats, min_seconds))
    return rates


def time_shares(step) -> dict[str, float]:
    """Fractions of one profiled training step (of a warm model) in convolutions and matmuls
    (their self time), in the optimizer (AdamW's step and zero_grad) and elsewhere."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        step()
        wall_us = (time.perf_counter() - start) * 1e6
    arithmetic = optimizer = 0.0
    for event in prof.key_averages():
        if event.key.startswith("Optimizer."):
            optimizer += event.cpu_time_total
        elif not event.key.startswith("autograd::") and ARITHMETIC_OPS.search(event.key):
            arithmetic += event.self_cpu_time_total
    return dict(arithmetic=arithmetic / wall_us, optimizer=optimizer / wall_us,
                rest=max(0.0, 1 - (arithmetic + optimizer) / wall_us))


def bound(flops: dict, rates: dict) -> float:
    """Samples per core-second if the model's FLOPs ran at the measured rates."""
    seconds = sum(flops[kind] / rates[kind].per_core for kind in flops)
    return 1 / seconds if seconds else float("inf")


def bench_cpu(name, params, *, batch, device, repeats, min_seconds):
    """One model's row: speed per core, FLOPs, bound, time shares and the two levers."""
    shapes = shapes_for(name, params)
    train_flops, infer_flops = model_flops(name, shapes, device)
    row = dict(model=name, train_flops=train_flops, infer_flops=infer_flops)

    def train_speed(step_for, threads, size, warm_up=True) -> Speed:
        torch.set_num_threads(threads)
        return Speed(size, threads, *timed(step_for(size), device, repeats, min_seconds,
                                           warm_up))

    model, step_for = training(name, shapes, device)
    row["params"] = models.count_parameters(model)
    row["by_batch"] = {size: train_speed(step_for, 1, size, warm_up=size == batch)
                       for size in (batch * multiple for multiple in BATCH_MULTIPLES)}
    row["train_1t"] = row["by_batch"][batch]
    row["shares"] = time_shares(step_for(batch))
    row["train_2t"] = train_speed(step_for, 2, batch)
    model.eval()
    torch.set_num_threads(1)
    big = [torch.randn(4 * batch, *s, device=device) for s in shapes]
    with torch.no_grad():
        row["infer_1t"] = Speed(4 * batch, 1, *timed(lambda: model(*big), device, repeats,
                                                     min_seconds))
    has_4d_weights = any(p.dim() == 4 for p in model.parameters())
    row["channels_last"] = (train_speed(training(name, shapes, device, True)[1], 1, batch)
                            if has_4d_weights else None)
    return row


def bench_device(name, params, *, batch, device, repeats, min_seconds):
    """Training and inference samples/s on an accelerator (no per-core figures there)."""
    shapes = shapes_for(name, params)
    model, step_for = training(name, shapes, device)
    train_s = timed(step_for(batch), device, repeats, min_seconds)[0]
    model.eval()
    big = [torch.randn(4 * batch, *s, device=device) for s in shapes]
    with torch.no_grad():
        infer_s = timed(lambda: model(*big), device, repeats, min_seconds)[0]
    return dict(model=name, params=models.count_parameters(model), train=batch / train_s,
                infer=4 * batch / infer_s)


def machine_lines(argv) -> list[str]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = [" ".join(line.split()) for line in lscpu.splitlines()
               if line.split(":")[0] in ("Architecture", "CPU(s)", "Model name",
                                         "Thread(s) per core", "Hypervisor vendor")]
    except OSError:
        cpu = [platform.processor() or platform.machine()]
    isa = torch.backends.cpu.get_cpu_capability()
    capped = os.environ.get("GENRE_LAB_ISA") == "avx2"  # set by tools/avx2.py
    wrapper = [sys.executable, "tools/avx2.py"] if capped else []
    command = " ".join(shlex.quote(a) for a in [*wrapper, sys.executable, *sys.argv[:1], *argv])
    capped = " (tools/avx2.py caps in force)" if capped else ""
    return [f"- {datetime.datetime.now().isoformat(timespec='seconds')}, `{command}`",
            f"- lscpu: {'; '.join(cpu)}",
            f"- torch {torch.__version__}, torch kernels: {isa}{capped}",
            "- load average (1, 5, 15 min) at start: "
            + ", ".join(f"{x:.2f}" for x in os.getloadavg())]


def mega(flops: dict) -> str:
    return f"{sum(flops.values()) / 1e6:.1f}"


def versus(speed: Speed, base: float) -> str:
    return f"{speed.per_core:.0f} ({speed.per_core / base - 1:+.0%})"


def print_cpu_report(rows, rates, batch):
    print("\nOne thread, per core-second (the faster at the run's start and end): matmul "
          f"{rates['matmul'].per_core / 1e9:.1f} GFLOP/s "
          f"(CPU share {rates['matmul'].share:.2f}), conv2d forward + backward "
          f"{rates['conv'].per_core / 1e9:.1f} GFLOP/s (CPU share {rates['conv'].share:.2f}).\n")
    print(f"Training at batch {batch}: segments per core-second at 1 and 2 threads; bound: one "
          "core at the rates above; time shares of a profiled 1-thread step; s/epoch: one "
          "core to itself.\n")
    print("| model | params | train MFLOP/seg | infer MFLOP/seg | train/s/core 1 thr | "
          "train/s/core 2 thr | CPU share 1 / 2 thr | bound/s | of bound | "
          "conv+mm / optim / rest | infer/s/core | infer of bound | s/epoch full GTZAN, 1 core |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        one, two, shares = r["train_1t"], r["train_2t"], r["shares"]
        print(f"| {r['model']} | {r['params']:,d} | {mega(r['train_flops'])} | "
              f"{mega(r['infer_flops'])} | {one.per_core:.0f} | {two.per_core:.0f} | "
              f"{one.share:.2f} / {two.share:.2f} | {r['train_bound']:.0f} | "
              f"{one.per_core / r['train_bound']:.0%} | {shares['arithmetic']:.0%} / "
              f"{shares['optimizer']:.0%} / {shares['rest']:.0%} | "
              f"{r['infer_1t'].per_core:.0f} | {r['infer_1t'].per_core / r['infer_bound']:.0%} "
              f"| {FULL_GTZAN_TRAIN_SEGMENTS / one.per_core:.0f} |")
    sizes = [batch * multiple for multiple in BATCH_MULTIPLES]
    print(f"\nLevers: training segments per core-second at 1 thread (change from batch {batch} "
          "in the default format).\n")
    print(f"| model | batch {batch} | channels_last | "
          + " | ".join(f"batch {size}" for size in sizes[1:]) + " |")
    print("|---|---:|---:|" + "---:|" * (len(sizes) - 1))
    for r in rows:
        base = r["by_batch"][batch].per_core
        cl = (versus(r["channels_last"], base) if r["channels_last"]
              else "n/a (no 4-D weights)")
        print(f"| {r['model']} | {base:.0f} | {cl} | "
              + " | ".join(versus(r["by_batch"][size], base) for size in sizes[1:]) + " |")
    fraction = {r["model"]: r["train_1t"].per_core / r["train_bound"] for r in rows}
    far = [f"{m} ({f:.0%})" for m, f in fraction.items() if f < FAR]
    near = [f"{m} ({f:.0%})" for m, f in fraction.items() if f >= NEAR]
    print(f"\nNear the bound (>= {NEAR:.0%}): {', '.join(near) or 'none'}. Far from it "
          f"(< {FAR:.0%}: overhead-bound, time in small layers, Python and optimizer "
          f"overhead, memory-bound batch norm, pooling, dropout): {', '.join(far) or 'none'}.")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, choices=list(config.PROFILES))
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--batch", type=int, default=TrainConfig.batch_size,
                        help="training batch (default: TrainConfig's); on a CPU also x2, x4")
    parser.add_argument("--repeats", type=int, default=3, help="timings, the best counts")
    parser.add_argument("--min-seconds", type=float, default=0.1,
                        help="each timing runs whole steps for at least this long")
    parser.add_argument("--models", nargs="*", default=list(models.MODEL_NAMES))
    args = parser.parse_args(argv)

    from genre_lab.train import choose_device

    device = choose_device(args.device)
    profile = config.get_profile(args.profile)
    params = profile.features
    timing = dict(device=device, repeats=args.repeats, min_seconds=args.min_seconds)
    print("\n".join(machine_lines(argv)))
    print(f"- device {device}, {os.cpu_count()} CPUs, profile {profile.name}: "
          f"{params.n_mels} mels x hop {params.hop_length}, batch {args.batch}, best of "
          f"{args.repeats} timings of >= {args.min_seconds} s")
    start = time.perf_counter()
    if device.type != "cpu":
        print("\n| model | params | train/s | infer/s | s/epoch full GTZAN |\n"
              "|---|---:|---:|---:|---:|")
        for name in args.models:
            r = bench_device(name, params, batch=args.batch, **timing)
            print(f"| {r['model']} | {r['params']:,d} | {r['train']:.0f} | {r['infer']:.0f} "
                  f"| {FULL_GTZAN_TRAIN_SEGMENTS / r['train']:.1f} |")
        return
    # the rates at the start and at the end, the faster of each: a neighbour's burst during
    # one measurement would otherwise lower every model's bound
    rates = cpu_rates(**timing)
    rows = [bench_cpu(name, params, batch=args.batch, **timing) for name in args.models]
    end_rates = cpu_rates(**timing)
    rates = {kind: max(speed, end_rates[kind], key=lambda s: s.per_core)
             for kind, speed in rates.items()}
    for row in rows:
        row["train_bound"] = bound(row["train_flops"], rates)
        row["infer_bound"] = bound(row["infer_flops"], rates)
    print_cpu_report(rows, rates, args.batch)
    print(f"\n- load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"run took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
