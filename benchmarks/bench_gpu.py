"""Time to 94% and to 95% eval accuracy on fashion: the prepared device check of issue 25 (item 5).

    bash benchmarks/gpu/prepare.sh      # here, once: the wheels the device lacks and the raw fashion files, in .gpu/
    bash benchmarks/gpu/run.sh          # on the device (carry [".gpu"]): installs them, runs this, fills $OUT
    .venv/bin/python benchmarks/bench_gpu.py --device cpu --smoke --compile false   # the same code on a CPU

Specs, in this order: the resnet18 baseline as the full budget trains it (competition.recipes.RESNET18: 32 px,
6 epochs; then 12 and 24), and the fast recipe (SpeedNet) at widths 96/192/384 and at its own 48/96/192, each
at 4, 8, 12, 16, 24 and 32 epochs. Each schedule trains one model from scratch on all 60,000 train images, on
the execution path the runner's probe chooses for that spec on the device (fp32, bf16 or fp16 autocast; NCHW or
channels_last; eager or torch.compile where its compile time pays back), and scores the eval split after its
last epoch, plain and with flip TTA. A schedule's time is its wall seconds from building the model to the eval
probabilities. time-to-X is the time of the shortest schedule whose eval accuracy reached X (schedules are
trained to their end, since one stopped early under a one-cycle schedule is not the shorter schedule).
A spec's longer schedules are skipped once both targets are reached, and no schedule starts after --minutes.
Each schedule is one JSON line in --out as soon as it ends, so a run cut off by its time limit keeps what it
measured; the summary at the end prints time-to-94% and time-to-95% per spec.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_train beside this file
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from bench_train import auto_or_bool, chosen_path, fashion_arrays  # noqa: E402
from competition.augment import create_augmentation  # noqa: E402
from competition.cv import train_config  # noqa: E402
from competition.data import CachedDataset  # noqa: E402
from competition.experiment import Experiment, get_budget  # noqa: E402
from competition.metrics import compute_metrics  # noqa: E402
from competition.models import create_model  # noqa: E402
from competition.recipes import FAST, RESNET18  # noqa: E402
from competition.scoring import read_answers  # noqa: E402
from competition.train import fit  # noqa: E402
from competition.tta import tta_predict  # noqa: E402

TARGETS = (0.94, 0.95)
SPECS = [
    (RESNET18, (6, 12, 24)),
    (FAST.with_(name="fast-w96", model_kw={**FAST.model_kw, "widths": (96, 192, 384)}), (4, 8, 12, 16, 24, 32)),
    (FAST.with_(name="fast-w48"), (4, 8, 12, 16, 24, 32)),
]
SMOKE = {"train_rows": 2000, "eval_rows": 1000, "epochs": (1, 2), "batch_size": 32}


def fashion_for(experiment: Experiment, smoke: bool):
    """(train images, labels, eval images, answers) at the spec's image size, from the decoded-image cache."""
    size = experiment.image_size
    comp, train, eval_images = fashion_arrays((size, size) if isinstance(size, int) else size)
    labels, answers = comp.train["label"].to_numpy(), read_answers(comp).to_numpy()
    if smoke:
        train, labels = train[: SMOKE["train_rows"]], labels[: SMOKE["train_rows"]]
        eval_images, answers = eval_images[: SMOKE["eval_rows"]], answers[: SMOKE["eval_rows"]]
    return np.asarray(train), labels, np.asarray(eval_images), answers


def train_schedule(experiment: Experiment, epochs: int, data, device: str, seed: int) -> dict:
    """One model trained for `epochs` on the spec's path, scored on eval: its figures as a JSON-able dict."""
    train, labels, eval_images, answers = data
    cfg = train_config(experiment.with_(epochs=epochs), get_budget("full"), labels, 10, device, seed, metric="accuracy")
    augmentation = create_augmentation(experiment.augmentation, train.shape[1:3], seed=seed)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = create_model(experiment.model, 10, in_chans=1, **experiment.model_kw)
    result = fit(model, CachedDataset(train, labels, augmentation), None, cfg, progress_file=False)
    trained = time.perf_counter() - start
    eval_set = CachedDataset(eval_images, None)
    scores = {}
    for label, views in {"plain": ("identity",), "flip_tta": ("identity", "hflip")}.items():
        probs = tta_predict(result.model, eval_set, views, device=device)
        scores[label] = compute_metrics(answers, probs)["accuracy"]
        if label == "plain":
            plain_seconds = time.perf_counter() - start
    return {"spec": experiment.name, "epochs": epochs, "seed": seed, "train_seconds": round(trained, 2),
            "seconds": round(plain_seconds, 2), "tta_seconds": round(time.perf_counter() - start, 2),
            "accuracy": scores["plain"], "accuracy_flip_tta": scores["flip_tta"],
            "path": {"precision": experiment.precision, "channels_last": experiment.channels_last,
                     "compile": experiment.compile}}


def time_to(rows: list[dict], target: float, accuracy: str, seconds: str) -> str:
    reached = [row[seconds] for row in rows if row[accuracy] >= target]
    return f"{min(reached):.0f} s" if reached else f"not reached (best {max(r[accuracy] for r in rows):.4f})"


def run_spec(experiment: Experiment, schedules, args, deadline: float, out) -> list[dict]:
    if time.monotonic() > deadline:
        print(f"{experiment.name}: --minutes spent; not started", flush=True)
        return []
    data = fashion_for(experiment, args.smoke)
    if args.smoke:  # the probe times batches of the spec's size: resnet18's at 256 take minutes on a CPU
        experiment = experiment.with_(batch_size=SMOKE["batch_size"])
    shape = (1, *data[0].shape[1:3])
    spec_path = {"precision": "auto", "channels_last": "auto", "compile": "auto"}
    path, _ = chosen_path(args, experiment.model, experiment.model_kw, experiment.batch_size, spec_path,
                          device=args.device, input_shape=shape)
    experiment = experiment.with_(precision=path["precision"], channels_last=path["channels_last"],
                                 compile=path["compile"])
    rows: list[dict] = []
    for epochs in schedules:
        if time.monotonic() > deadline:
            print(f"{experiment.name}: --minutes spent; {epochs} epochs and longer not started", flush=True)
            break
        row = train_schedule(experiment, epochs, data, args.device, args.seed)
        rows.append(row)
        out.write(json.dumps(row) + "\n")
        out.flush()
        print(f"{experiment.name} {epochs} epochs: accuracy {row['accuracy']:.4f} in {row['seconds']:.1f} s, flip "
              f"TTA {row['accuracy_flip_tta']:.4f} in {row['tta_seconds']:.1f} s", flush=True)
        if all(row["accuracy"] >= target for target in TARGETS):
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--minutes", type=float, default=7.0, help="no schedule starts after this")
    parser.add_argument("--seed", type=int, default=0)
    names = [spec.name for spec, _ in SPECS]
    parser.add_argument("--specs", nargs="+", choices=names, help="only these (default: all)")
    parser.add_argument("--out", default="benchmarks/out/gpu.jsonl", help="one JSON line per schedule")
    parser.add_argument("--smoke", action="store_true", help=f"tiny data and schedules ({SMOKE}): checks the code")
    parser.add_argument("--precision", default=None, help="auto (default), fp32, bf16 or fp16 (CUDA)")
    parser.add_argument("--channels-last", type=auto_or_bool, default=None)
    parser.add_argument("--compile", type=auto_or_bool, default=None)
    args = parser.parse_args()
    deadline = time.monotonic() + args.minutes * 60
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[dict]] = {}
    with open(args.out, "w") as out:
        for experiment, schedules in SPECS:
            if args.specs and experiment.name not in args.specs:
                continue
            found[experiment.name] = run_spec(experiment, SMOKE["epochs"] if args.smoke else schedules, args,
                                              deadline, out)
    print(f"time to target on {args.device}, one seed ({args.seed}), wall seconds of the shortest schedule that "
          "reached it (training and the eval prediction):")
    for name, rows in found.items():
        if not rows:
            print(f"  {name}: no schedule ran")
            continue
        for target in TARGETS:
            print(f"  {name} {target:.0%}: plain {time_to(rows, target, 'accuracy', 'seconds')}, "
                  f"flip TTA {time_to(rows, target, 'accuracy_flip_tta', 'tta_seconds')}")


if __name__ == "__main__":
    main()
