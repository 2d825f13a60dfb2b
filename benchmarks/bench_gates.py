"""What the seed and two-level bootstrap machinery costs beside the training, and the
guards' false-alarm rate over A/A subsets of the recorded baseline seeds.

    .venv/bin/python benchmarks/bench_gates.py [--seeds 3]

1. Trains the guard model (fixtures.models.GUARD) at smoke with --seeds seeds in a
   fresh store and measures, in the same process, the wall time of the training
   units against the wall time of everything the seed and gate machinery adds:
   assembling per-seed results, the two-level bootstrap interval, a paired
   two-level comparison and the regression tolerance. Prints the ratio.
2. From fixtures/baselines/small_cnn.smoke.json (8 seeds): every way to pick 3
   seeds as "a new run" against the other 5 as "the baseline" is an A/A run of the
   regression guard; prints how many of them would raise a false alarm.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from competition.gates import regression_tolerance  # noqa: E402
from competition.metrics import bootstrap_ci, paired_bootstrap  # noqa: E402
from competition.runner import RunContext, run  # noqa: E402
from competition.store import Store  # noqa: E402
from fixtures.models import GUARD  # noqa: E402


def machinery_cost(seeds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run(GUARD.with_(seeds=seeds), "smoke", RunContext(store=Store(tmp), progress_file=False))
        run_wall = time.perf_counter() - started
    training = sum(fold["seconds"] for fold in result.folds)
    started = time.perf_counter()
    bootstrap_ci(result.metric, result.y, result.seed_probs(), groups=result.groups)
    paired_bootstrap(result.metric, result.y, result.seed_probs(), result.seed_probs()[::-1], groups=result.groups)
    regression_tolerance(result.seed_scores(), len(result.seed_scores()))
    gates_wall = time.perf_counter() - started
    print(f"guard model, {seeds} seeds at smoke: run {run_wall:.1f} s, of which training epochs {training:.1f} s")
    print(f"  gate statistics (two-level CI + paired comparison + tolerance): {gates_wall:.2f} s "
          f"= {gates_wall / training:.1%} of the training")
    print(f"  everything beside the epochs (data, prediction, assembling, store): {run_wall - training:.1f} s "
          f"= {(run_wall - training) / training:.1%} of the training")


def aa_false_alarms(path: Path, new_seeds: int = 3) -> None:
    records = json.loads(path.read_text())
    for baseline in records.values():
        for measure, values in baseline["measures"].items():
            if measure == "class_recall":  # per class: its own guard, Holm across classes (tests/test_class_guard.py)
                continue
            values = np.asarray(values)
            higher_better = measure != "gap"
            alarms, total = 0, 0
            for picked in itertools.combinations(range(len(values)), new_seeds):
                rest = np.delete(values, picked)
                limits = regression_tolerance(rest, new_seeds)
                new = values[list(picked)].mean()
                worse_by = (limits["mean"] - new) if higher_better else (new - limits["mean"])
                alarms += worse_by > limits["tolerance"]
                total += 1
            print(f"{path.name} {measure}: {alarms} false alarms in {total} A/A splits "
                  f"({new_seeds} new seeds vs {len(values) - new_seeds}); seed sd {values.std(ddof=1):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    if not args.skip_training:
        machinery_cost(args.seeds)
    aa_false_alarms(ROOT / "fixtures" / "baselines" / "small_cnn.smoke.json")


if __name__ == "__main__":
    main()
