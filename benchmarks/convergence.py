"""How many epochs do the chapters' models need? Validation curves well past the profile's
epochs, so that a chapter's epoch count is chosen from measurement, not guessed.

    python benchmarks/convergence.py                          # quick profile, seed 0
    python benchmarks/convergence.py --seeds 0 1 --max-epochs 32 --models mlp resnet
    python benchmarks/convergence.py --write benchmarks/convergence.md
    python benchmarks/convergence.py --data chapter6 --models lenet5 --max-epochs 48 \
        --write benchmarks/convergence.md --append     # chapter 6's quarter of the tracks

Each model trains on chapter 4's split (``prepare(tracks, split="track", seed=0)``; with
``--data chapter6``, chapter 6's quarter of its training tracks) for
``--max-epochs`` epochs at a constant learning rate without early stopping, one torch
thread. Per model and seed the table gives the best validation accuracy and its epoch, the
validation accuracy the profile's epoch count reaches (fit restores the best epoch up to
there), and the first epoch whose validation accuracy comes within ``--tolerance`` of the
best: training past it buys less than that. Then the model trains with its recipe
(``experiment.recipe``: early stopping, or a one-cycle schedule), and the table gives the
epochs that took and the best validation accuracy it reached: a recipe is good when it
reaches the long run's accuracy within the spread of seeds, in fewer epochs. With ``--json``,
the curves are written for plotting.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["mlp", "lenet5", "resnet", "lstm", "cnn1d", "crnn"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-epochs", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=0.02,
                        help="validation accuracy counted as 'as good as the best'")
    parser.add_argument("--json", type=Path, default=None, help="write the curves here")
    parser.add_argument("--data", choices=["chapter4", "chapter6"], default="chapter4")
    parser.add_argument("--write", type=Path, default=None, help="also write the table here")
    parser.add_argument("--append", action="store_true", help="append to --write")
    args = parser.parse_args(argv)

    import torch

    from genre_lab import augment, config, experiment
    from genre_lab.data import load_tracks
    from genre_lab.dataset import prepare
    from genre_lab.train import TrainConfig

    torch.set_num_threads(1)
    profile = config.get_profile()
    data = prepare(load_tracks(), split="track", seed=0)
    if args.data == "chapter6":
        data = augment.fewer_training_tracks(data, 0.25, seed=0)
    split = ("chapter 4's split" if args.data == "chapter4" else
             "chapter 6's quarter of chapter 4's training tracks")
    # the epochs a chapter trained for before recipes: chapter 6's baseline takes twice the
    # profile's (its copy-based conditions take the profile's, on twice the segments)
    budget = profile.epochs * (2 if args.data == "chapter6" else 1)
    curves, rows = {}, []
    for name in args.models:
        for seed in args.seeds:
            start = time.perf_counter()
            run = experiment.train_model(name, data, TrainConfig(epochs=args.max_epochs,
                                                                 seed=seed),
                                         cache=False, progress=False)
            val = run.history.val_accuracy
            best = max(val)
            at_profile = max(val[:budget])
            enough = next(i for i, v in enumerate(val) if v >= best - args.tolerance) + 1
            seconds = time.perf_counter() - start
            recipe = experiment.recipe(name, profile, seed=seed)
            start = time.perf_counter()
            by_recipe = experiment.train_model(name, data, recipe, cache=False,
                                               progress=False).history
            curves[f"{name}/{seed}"] = dict(val_accuracy=val,
                                            train_accuracy=run.history.train_accuracy,
                                            val_loss=run.history.val_loss,
                                            recipe_val_accuracy=by_recipe.val_accuracy)
            how = (f"{recipe.schedule} lr {recipe.lr:g}" if recipe.patience is None
                   else f"patience {recipe.patience}")
            rows.append(f"| {name} | {seed} | {best:.3f} | {val.index(best) + 1} | "
                        f"{at_profile:.3f} | {enough} | {seconds:.0f} | {how} | "
                        f"{len(by_recipe.val_accuracy)} of {recipe.epochs} | "
                        f"{max(by_recipe.val_accuracy):.3f} | "
                        f"{time.perf_counter() - start:.0f} |")
            print(rows[-1], flush=True)
    lines = [f"Validation curves, {profile.name} profile, {split}, "
             f"up to {args.max_epochs} epochs, one torch thread, {platform.node()} "
             f"(`python benchmarks/convergence.py {' '.join(argv or sys.argv[1:])}`).", "",
             f"| model | seed | best val | at epoch | best in {budget} epochs | "
             f"first epoch within {args.tolerance} of best | seconds | recipe | "
             "recipe's epochs | recipe's best val | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|", *rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.json:
        args.json.write_text(json.dumps(curves))
    if args.write:
        with args.write.open("a" if args.append else "w") as f:
            f.write(("\n" if args.append else "") + text)


if __name__ == "__main__":
    main()
