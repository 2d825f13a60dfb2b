"""A 5-fold CV ensemble with TTA on all of fashion within a wall-clock budget.

    .venv/bin/python benchmarks/bench_cv.py [--minutes 60] [--folds 5] [--model rescnn_wide]
    .venv/bin/python benchmarks/bench_cv.py --recipe fast [--seed 0] [--precision auto --channels-last auto]

It measures the model's training rate, fits the epochs per fold into the
budget, runs `Experiment(cv="stratified:K")` through the store (./runs), then
re-predicts the stored fold models with TTA views (`apply_tta`). It prints,
on the eval split: each fold model alone, their soft vote, and the vote with
TTA, with paired bootstrap intervals against the best single fold model.

Measured (--minutes 60 --epochs 13, rescnn_wide, flip; 47.1 min wall, 2 cores):
fold models 0.9304-0.9350, soft vote 0.9400 (+0.0050 [0.0020, 0.0078] over the
best fold model), soft vote + TTA 0.9418 (+0.0068 [0.0037, 0.0101]).
Fewer, longer folds do worse (--folds 3 --epochs 20, pad-2 crops + flip; 41.3
min): fold models 0.9306-0.9333, soft vote + TTA 0.9387.

Measured (--recipe fast, 11 epochs per fold fitted into the hour), seeds 0 / 1 / 2:
fold models 0.9355-0.9389 / 0.9379-0.9405 / 0.9392-0.9404, soft vote 0.9448 /
0.9442 / 0.9448, soft vote + TTA 0.9459 / 0.9452 / 0.9452 (mean 0.9454, sd 0.0004;
+0.0070 / +0.0047 / +0.0048 over the best fold model); 55.2 min wall for seed 1,
50.3 for seed 2 (--epochs 11; seed 0: 47.2 min of folds, then 6.0 min of TTA, in two runs).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_train import auto_or_bool, chosen_path, epochs_within, parse_augmentation  # noqa: E402
from fixtures.models import RECIPES  # noqa: E402

from competition.cv import unit_label  # noqa: E402
from competition.data import load_builtin  # noqa: E402
from competition.experiment import Experiment, get_budget  # noqa: E402
from competition.metrics import compute_metrics, paired_bootstrap  # noqa: E402
from competition.posthoc import apply_tta  # noqa: E402
from competition.runner import RunContext, run  # noqa: E402
from competition.scoring import eval_answers  # noqa: E402
from competition.store import Store  # noqa: E402

TTA_VIEWS = ("identity", "hflip", "shift:1")


def cv_experiment(args) -> Experiment:
    """The spec every fold trains: a recipe of fixtures/models.py, or the model and augmentation flags."""
    if args.recipe:
        base = RECIPES[args.recipe].with_(name=f"cv{args.folds}_{args.recipe}")
    else:
        base = Experiment(name=f"cv{args.folds}_{args.model}", model=args.model, model_kw=json.loads(args.model_kw),
                          augmentation=parse_augmentation(args.augmentation), loss="label_smoothing")
    return base.with_(cv=f"stratified:{args.folds}", **json.loads(args.experiment_kw))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--recipe", choices=sorted(RECIPES),
                        help="the folds train this spec of fixtures/models.py (its model, optimizer, augmentation); "
                             "--model, --model-kw and --augmentation are then ignored")
    parser.add_argument("--seed", type=int, default=0, help="the models' seed (the split stays that of seed 0)")
    parser.add_argument("--model", default="rescnn_wide")
    parser.add_argument("--model-kw", default="{}", help="JSON keywords for create_model")
    parser.add_argument("--augmentation", default="flip",
                        help="a preset name, 'flip', or a JSON list of [name, params] pairs")
    parser.add_argument("--experiment-kw", default="{}",
                        help='JSON Experiment fields over the defaults, e.g. {"weight_decay": 0.05}')
    parser.add_argument("--epochs", type=int, help="override the epochs fitted into --minutes")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="the training precision (default: the spec's); 'auto' lets the probe choose")
    parser.add_argument("--channels-last", type=auto_or_bool, help="auto, true or false (default: the spec's)")
    parser.add_argument("--compile", type=auto_or_bool, help="auto, true or false (default: the spec's)")
    parser.add_argument("--budget", default="full", help="full: all 60,000 images; smoke: a one-minute check")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()  # the whole script counts against --minutes
    experiment = cv_experiment(args)
    train_rows = 60_000 * (args.folds - 1) // args.folds
    # each fold also scores its val rows every epoch; the last 10% of the budget is for TTA
    per_fold_minutes = 0.9 * args.minutes / args.folds
    spec_path = {name: getattr(experiment, name) for name in ("precision", "channels_last", "compile")}
    path, rate = chosen_path(args, experiment.model, experiment.model_kw, experiment.batch_size, spec_path)
    epochs = args.epochs or epochs_within(per_fold_minutes, rate, train_rows,
                                          scored_rows_per_epoch=60_000 // args.folds)
    experiment = experiment.with_(epochs=epochs, seed=args.seed, split_seed=0, precision=path["precision"],
                                  channels_last=path["channels_last"], compile=path["compile"])
    print(f"{experiment.name}: {epochs} epochs per fold on {path['label']}, {train_rows} train rows per fold",
          flush=True)
    store = Store("runs")
    context = RunContext(store=store, device=args.device, log=print, progress_file=False)
    # one model per fold: the full budget's three seeds per fold would triple the hour
    budget = replace(get_budget(args.budget), seeds=1)
    result = run(experiment, budget, context)
    with_tta = apply_tta(result, TTA_VIEWS, context=context, budget=budget)
    wall, cpu = (time.perf_counter() - wall) / 60, (time.process_time() - cpu) / 60

    answers = eval_answers(load_builtin("fashion"))
    assert answers is not None, "fashion's eval split has answers"
    fold_probs = []
    for fold in range(args.folds):
        unit = store.load_unit(result.provenance.unit_key, unit_label(fold, experiment.seed))
        if unit is None or unit.eval_probs is None:
            raise SystemExit(f"fold {fold}'s unit is missing from {store.root}: delete the experiment's runs and rerun")
        fold_probs.append(unit.eval_probs)
    fold_acc = [compute_metrics(answers, p, ("accuracy",))["accuracy"] for p in fold_probs]
    best = fold_probs[int(np.argmax(fold_acc))]
    print(f"{experiment.name}, {epochs} epochs per fold, {torch.get_num_threads()} threads: "
          f"{wall:.1f} min wall, {cpu:.1f} min process CPU (a cache hit reports only the TTA pass)")
    print(f"  fold models alone, eval accuracy: {' '.join(f'{a:.4f}' for a in fold_acc)}")
    for label, probs in (("soft vote", result.eval_probs), (f"soft vote + TTA {TTA_VIEWS}", with_tta.eval_probs)):
        diff = paired_bootstrap("accuracy", answers, probs, best)
        print(f"  {label}: eval accuracy {compute_metrics(answers, probs, ('accuracy',))['accuracy']:.4f}, "
              f"vs best fold model {diff['delta']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}]")
    print(f"  OOF accuracy {result.oof_metrics['accuracy']:.4f} (with TTA "
          f"{compute_metrics(with_tta.y, with_tta.oof_probs, ('accuracy',))['accuracy']:.4f})")


if __name__ == "__main__":
    main()
