"""Training and inference speed of every model: samples per second, and seconds per epoch at
the full GTZAN size (1000 clips x 10 segments of 3 s, 60% of them for training).

    python benchmarks/train.py                     # the quick profile's input shapes
    python benchmarks/train.py --profile standard  # 128 mel bands x 130 frames
    python benchmarks/train.py --device cuda       # on a GPU

Random inputs of the profile's shapes: speed does not depend on the data. Each model runs a
warm-up, then timed training steps (forward, backward, Adam) and timed inference batches.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from genre_lab import catalog, config, models

FULL_GTZAN_TRAIN_SEGMENTS = 1000 * 10 * 6 // 10


def shapes_for(name: str, settings: config.FeatureSettings) -> list[tuple[int, int]]:
    frames = settings.n_frames
    rows = {"logmel": settings.n_mels, "mfcc": settings.n_mfcc}
    return [(rows[kind], frames) for kind in catalog.input_kinds(name)]


def timed(step, repeats: int, device) -> float:
    for _ in range(2):  # warm-up
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def bench(name, params, *, batch, repeats, device):
    shapes = shapes_for(name, params)
    model = models.build(name, shapes).to(device)
    xs = [torch.randn(batch, *s, device=device) for s in shapes]
    y = torch.randint(0, 10, (batch,), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        loss = loss_fn(model(*xs), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.train()
    train_s = timed(train_step, repeats, device)
    model.eval()
    big = [torch.randn(4 * batch, *s, device=device) for s in shapes]
    with torch.no_grad():
        infer_s = timed(lambda: model(*big), repeats, device)
    return dict(model=name, params=models.count_parameters(model),
                train_per_s=batch / train_s, infer_per_s=4 * batch / infer_s,
                epoch_s=FULL_GTZAN_TRAIN_SEGMENTS / (batch / train_s))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, choices=list(config.PROFILES))
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(models.MODEL_NAMES))
    args = parser.parse_args(argv)

    from genre_lab.train import choose_device

    device = choose_device(args.device)
    profile = config.get_profile(args.profile)
    params = profile.features
    print(f"device {device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}, profile "
          f"{profile.name}: {params.n_mels} mels x hop {params.hop_length}, batch "
          f"{args.batch}")
    print(f"{'model':8s} {'params':>10s} {'train/s':>9s} {'infer/s':>9s} "
          f"{'s/epoch full GTZAN':>19s}")
    for name in args.models:
        r = bench(name, params, batch=args.batch, repeats=args.repeats, device=device)
        print(f"{r['model']:8s} {r['params']:>10,d} {r['train_per_s']:>9.0f} "
              f"{r['infer_per_s']:>9.0f} {r['epoch_s']:>19.1f}")


if __name__ == "__main__":
    main()
