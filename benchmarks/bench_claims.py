"""The claims' error rates and what pairing the seeds buys, side by side in one run.

    .venv/bin/python benchmarks/bench_claims.py calibration [--pairs 300]
    .venv/bin/python benchmarks/bench_claims.py pairing [--budget smoke] [--seeds 3] [--ablations a,b]

calibration (no training, seconds to minutes):
  1. synthetic A/A pairs (competition.calibration.aa_pair: 10 classes, shared row difficulty, 3 seeds per
     side): how often 'beats' passes with the percentile two-level bootstrap that claims used before and
     with the seed-level t interval they use now, seeds independent and paired; nominal 2.5%.
  2. seeds until decided: the same pairs with pools of 9 seeds, gates.decide_claim looking at 3, 5, 7, 9
     seeds per side, with the error spent across the looks and (for contrast) at the full level each look.
  3. every 3-vs-3 split of each guard model's 8 recorded seeds through each verb's verdict.

pairing (trains through the store, runs/): the fast recipe and its ablations (competition.recipes) with
the same seed list; for each ablation, the claim's standard error and MDE read paired (per-seed
differences) and unpaired (Welch) from the same runs: the variance pairing removes at the same compute.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from competition import gates  # noqa: E402
from competition.calibration import SeedPools, aa_pair, split_rates, unspent_outcome  # noqa: E402
from competition.experiment import Experiment  # noqa: E402
from competition.metrics import paired_bootstrap, seed_level_comparison  # noqa: E402
from competition.recipes import FAST, FAST_ABLATIONS  # noqa: E402
from competition.runner import RunContext, run  # noqa: E402
from competition.provenance import environment  # noqa: E402
from competition.store import Store  # noqa: E402


def rate_line(label: str, hits: int, pairs: int, nominal: float) -> str:
    se = np.sqrt(nominal * (1 - nominal) / pairs)
    return f"  {label:<60} {hits:>4}/{pairs} = {hits / pairs:6.2%}  (nominal {nominal:.1%}, binomial se {se:.2%})"


def single_look_rates(pairs: int) -> None:
    print(f"1. 'beats' on {pairs} synthetic A/A pairs, 3 seeds per side, 3,000 rows")
    for paired in (False, True):
        rng = np.random.default_rng(20261201)
        old = new = 0
        for i in range(pairs):
            y, a, b = aa_pair(rng, 3000, 3, paired)
            old += paired_bootstrap("accuracy", y, a, b, n_boot=200, seed=i)["low"] > 0
            new += seed_level_comparison("accuracy", y, a, b, n_boot=200, seed=i, paired=paired)["low"] > 0
        kind = "paired seeds" if paired else "independent seeds"
        print(rate_line(f"percentile two-level bootstrap (before), {kind}", old, pairs, 0.025))
        print(rate_line(f"seed-level t interval (now), {kind}", new, pairs, 0.025))


def sequential_rates(pairs: int) -> None:
    print(f"2. seeds until decided: {pairs} A/A pairs, pools of 9 seeds, looks at 3, 5, 7, 9 per side")
    gates.CLAIM_RESAMPLES = 100  # the seeds dominate in this regime
    auto_a, auto_b = Experiment("a", seeds="auto", max_seeds=9), Experiment("b", seeds="auto", max_seeds=9)
    rng = np.random.default_rng(31)
    spent = naive = decided_at = 0
    for _ in range(pairs):
        y, a, b = aa_pair(rng, 1500, 9, paired=False, seed_sd=0.2)
        pools = SeedPools(y, {"a": a, "b": b})
        try:
            cmp = gates.decide_claim(pools, auto_a, auto_b, "beats:0.02")
            spent += 1
            decided_at += cmp["look"]
        except (AssertionError, gates.Underpowered):
            pass
        naive += unspent_outcome(pools, auto_a, auto_b, "beats", 0.02, max_seeds=9) == "pass"
    print(rate_line("error spent across the looks (decide_claim)", spent, pairs, 0.025))
    print(rate_line("every look at the full level (optional stopping, unspent)", naive, pairs, 0.025))


def recorded_rates() -> None:
    print("3. every 3-vs-3 split of 8 recorded seeds (fixtures/baselines, smoke), through each verb's verdict")
    for model in ("small_cnn", "lt-weighted_ce"):
        path = ROOT / "fixtures" / "baselines" / f"{model}.smoke.json"
        for record in json.loads(path.read_text()).values():
            for measure in ("score", "eval"):
                rates = split_rates(np.asarray(record["measures"][measure]))
                print(f"  {model:<15} {measure:<6} margin {rates['margin']:.4f}: beats {rates['beats']:.1%} "
                      f"(2.5%), equivalent {rates['equivalent']:.1%} (5%), not_worse {rates['not_worse']:.1%} "
                      f"(2.5%) over {rates['splits']} splits")


def pairing(budget: str, seeds: int, names: list[str], effect: float) -> None:
    context = RunContext(store=Store(ROOT / "runs"), progress_file=False)
    recipe = run(FAST.with_(seeds=seeds), budget, context)
    print(f"pairing at budget {budget}: the fast recipe against each ablation, {seeds} seeds per side, the same "
          f"seed list; recipe {recipe.score('accuracy'):.4f} on {len(recipe.y)} holdout rows")
    print(f"  {'ablation':<18} {'delta':>8} {'se paired':>10} {'se Welch':>9} {'var ratio':>9} {'MDE paired':>10} "
          f"{'MDE Welch':>9}  seeds for {effect}: paired / Welch")
    for name in names:
        ablated = run(FAST_ABLATIONS[name].with_(seeds=seeds), budget, context)
        both = {paired: seed_level_comparison("accuracy", recipe.y, recipe.seed_probs(), ablated.seed_probs(),
                                              1000, 0.95, seed=0, paired=paired) for paired in (True, False)}
        needed = {paired: gates.seeds_needed(cmp, effect) for paired, cmp in both.items()}
        print(f"  {name:<18} {both[True]['delta']:>+8.4f} {both[True]['se']:>10.4f} {both[False]['se']:>9.4f} "
              f"{(both[True]['se'] / both[False]['se']) ** 2:>9.2f} {both[True]['mde']:>10.4f} "
              f"{both[False]['mde']:>9.4f}  {needed[True]} / {needed[False]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    calibration = sub.add_parser("calibration")
    calibration.add_argument("--pairs", type=int, default=300)
    paired = sub.add_parser("pairing")
    paired.add_argument("--budget", default="smoke")
    paired.add_argument("--seeds", type=int, default=3)
    paired.add_argument("--ablations", default="norm_lr_mult,whitening,label_smoothing")
    paired.add_argument("--effect", type=float, default=0.005)
    args = parser.parse_args()
    where = environment()
    print(f"machine: {where['cpu']} ({where['isa'] or 'no avx2'}), {where['threads']} threads, "
          f"python {where['python']}, commit {where['commit']}")
    if args.what == "calibration":
        single_look_rates(args.pairs)
        sequential_rates(min(args.pairs, 200))
        recorded_rates()
    else:
        pairing(args.budget, args.seeds, args.ablations.split(","), args.effect)


if __name__ == "__main__":
    main()
