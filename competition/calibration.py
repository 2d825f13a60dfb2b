"""Layer 6. The claims' error rates as evidence: every claim verb's verdict on A/A splits of recorded seeds.

Two sources of A/A pairs: synthetic probabilities with shared row difficulty and a per-seed spread
(aa_pair; SeedPools serves them to gates.decide_claim as the store would), and recorded seeds.

A baseline records the per-seed values of an unchanged model (fixtures/baselines: 8 seeds of each guard
model). Every split of them into two disjoint sides is an A/A comparison run by one procedure, so a claim
of a difference that passes there passes falsely. For 'equivalent' and 'not_worse' the truth is moved to
the margin (B shifted by it), where their passing is the false decision. The seed level alone is used:
the rows are the same on both sides and add nothing between splits.

    >>> split_rates(np.array(baseline["measures"]["eval"]))   # {'beats': 0.02, 'equivalent': ..., ...}

benchmarks/bench_claims.py prints them; tests/test_claim_calibration.py holds them to their nominal rates.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .experiment import Experiment, Provenance, Result
from .gates import claim_interval, interval_level, seed_rounds, verdict
from .metrics import seed_variance, t_interval

CLASSES = 10


def seed_probs(rng: np.random.Generator, y: np.ndarray, difficulty: np.ndarray, seed_effects) -> np.ndarray:
    """(S, N, C): each seed right on row i with probability sigmoid(2.2 + difficulty_i + effect_s)."""
    stacks = []
    for effect in seed_effects:
        right = rng.random(len(y)) < 1 / (1 + np.exp(-(2.2 + difficulty + effect)))
        guess = np.where(right, y, (y + rng.integers(1, CLASSES, len(y))) % CLASSES)
        probs = np.full((len(y), CLASSES), 0.1 / (CLASSES - 1))
        probs[np.arange(len(y)), guess] = 0.9
        stacks.append(probs)
    return np.stack(stacks)


def aa_pair(rng: np.random.Generator, rows: int, seeds: int, paired: bool, seed_sd: float = 0.15):
    """(y, A's seed probabilities, B's): one A/A pair drawn by one procedure. paired: A's seed s and B's seed s
    share most of their seed effect (common random numbers)."""
    y = rng.integers(0, CLASSES, rows)
    difficulty = rng.normal(0, 1.5, rows)
    shared = rng.normal(0, seed_sd, seeds)

    def effects():
        own = rng.normal(0, seed_sd, seeds)
        return 0.9 * shared + np.sqrt(1 - 0.81) * own if paired else own

    return y, seed_probs(rng, y, difficulty, effects()), seed_probs(rng, y, difficulty, effects())


def as_result(name: str, y: np.ndarray, probs: np.ndarray) -> Result:
    """A Result holding per-seed OOF probabilities (S, N, C) on rows y, seeds 0..S-1."""
    folds = [{"fold": 0, "seed": s, "val_metrics": {}, "train_metrics": {}} for s in range(len(probs))]
    return Result(
        name=name,
        spec={},
        budget="synthetic",
        key="",
        class_names=[str(c) for c in range(CLASSES)],
        metric="accuracy",
        y=y,
        oof_index=np.arange(len(y)),
        oof_probs=probs.mean(0),
        eval_ids=np.arange(1),
        eval_probs=probs.mean(0)[:1],
        folds=folds,
        seconds=0.0,
        seed_oof_probs=probs,
        seed_eval_probs=probs[:, :1],
        provenance=Provenance(data_fingerprint="synthetic"),
    )


class SeedPools:
    """A `run` for gates.decide_claim without training: each spec's first n seeds from a pool drawn up front
    (by spec name), as the store serves the seeds a claim already trained. `calls` records what was asked."""

    def __init__(self, y: np.ndarray, pools: dict[str, np.ndarray]):
        self.y, self.pools = y, pools
        self.calls: list[tuple[str, int]] = []

    def __call__(self, spec: Experiment) -> Result:
        seeds = spec.training_seeds(None)
        self.calls.append((spec.name, len(seeds)))
        return as_result(spec.name, self.y, self.pools[spec.name][: len(seeds)])


def seed_interval(a: np.ndarray, b: np.ndarray, level: float, paired: bool = False, power: float = 0.8) -> dict:
    """The claims' interval of mean(a) - mean(b) from per-seed values alone (the row level left out)."""
    var, df = seed_variance(np.asarray(a, float), np.asarray(b, float), paired)
    se = float(np.sqrt(var))
    return t_interval(float(np.mean(a) - np.mean(b)), se, df, level, power)


def split_rates(values: np.ndarray, per_side: int = 3, level: float = 0.95, margin: float | None = None) -> dict:
    """Over every per_side-vs-per_side split of `values`: how often 'beats' passes (true difference 0), and
    'equivalent' and 'not_worse' pass when the true difference is the margin (default: two seed sds)."""
    values = np.asarray(values, float)
    margin = 2 * float(values.std(ddof=1)) if margin is None else margin
    passes = {"beats": 0, "equivalent": 0, "not_worse": 0}
    splits = 0
    for side_a in combinations(range(len(values)), per_side):
        rest = [i for i in range(len(values)) if i not in side_a]
        for side_b in combinations(rest, per_side):
            a, b = values[list(side_a)], values[list(side_b)]
            truths = {"beats": (a, b), "equivalent": (a, b - margin), "not_worse": (a - margin, b)}
            for verb, (left, right) in truths.items():
                cmp = seed_interval(left, right, interval_level(verb, level))
                passes[verb] += verdict(verb, cmp, margin) == "pass"
            splits += 1
    return {verb: count / splits for verb, count in passes.items()} | {"splits": splits, "margin": margin}


def unspent_outcome(run, a: Experiment, b: Experiment, verb: str, number: float, max_seeds: int) -> str:
    """What optional stopping does without spending the error: every look (3, 5, ... max_seeds seeds per side)
    at the full 95% level, stopping at the first that decides. For contrast with gates.decide_claim."""
    for seeds in seed_rounds(3, max_seeds):
        result_a, result_b = (run(spec.with_(seeds=seeds, max_seeds=None)) for spec in (a, b))
        outcome = verdict(verb, claim_interval(result_a, result_b, verb, result_a.metric, 0.95), number)
        if outcome != "undecided":
            return outcome
    return "undecided"
