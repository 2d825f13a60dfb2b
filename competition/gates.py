"""Gates: plain functions that raise AssertionError with obtained vs expected.

Each gate records its figures through `record`, which the pytest plugin turns
into the terminal leaderboard and JUnit properties; outside pytest nothing
listens. Statistical gates judge bootstrap bounds, not point estimates.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import ConfigError
from .metrics import bootstrap_ci, paired_bootstrap

LISTENERS: list[Callable[[dict], None]] = []


def record(gate: str, name: str, **figures) -> dict:
    entry = {"gate": gate, "experiment": name, **figures}
    for listener in LISTENERS:
        listener(entry)
    return entry


def fmt(x: float) -> str:
    return f"{x:.4f}"


def check_same_samples(a, b) -> None:
    if len(a.y) != len(b.y) or not np.array_equal(a.oof_index, b.oof_index) or not np.array_equal(a.y, b.y):
        raise ConfigError(f"{a.name} and {b.name} were validated on different samples; compare results of the "
                          "same data, budget and CV scheme")
    if a.oof_probs.shape[1] != b.oof_probs.shape[1]:
        raise ConfigError(f"{a.name} has {a.oof_probs.shape[1]} classes, {b.name} {b.oof_probs.shape[1]}")


# --- quality ----------------------------------------------------------------------------
def assert_metric_floor(result, floor: float, metric: str | None = None, level: float = 0.95, n_boot: int = 1000):
    """The lower bound of the bootstrap CI of the OOF metric is at least `floor`."""
    metric = metric or result.metric
    point, low, high = bootstrap_ci(metric, result.y, result.oof_probs, n_boot, level, seed=0)
    record("metric_floor", result.name, metric=metric, score=point, low=low, high=high, floor=floor, level=level,
           n=len(result.y))
    assert low >= floor, (
        f"{result.name}: {metric} is {fmt(point)} [{fmt(low)}, {fmt(high)}] ({level:.0%} bootstrap CI, "
        f"{len(result.y)} OOF samples); expected the lower bound >= {fmt(floor)}")
    return point, low, high


def assert_gap_below(result, max_gap: float, metric: str | None = None):
    """Train minus validation metric (both unaugmented) is at most `max_gap`."""
    metric = metric or result.metric
    gap, train, val = result.gap(metric), result.train_score(metric), float(np.mean(result.fold_scores(metric)))
    record("gap", result.name, metric=metric, gap=gap, train=train, val=val, max_gap=max_gap)
    assert gap <= max_gap, (f"{result.name}: generalisation gap in {metric} is {fmt(gap)} (train {fmt(train)} - "
                            f"val {fmt(val)}); expected <= {fmt(max_gap)}")
    return gap


def assert_fold_std_below(result, max_std: float, metric: str | None = None):
    metric = metric or result.metric
    scores = result.fold_scores(metric)
    std = float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
    record("fold_std", result.name, metric=metric, std=std, mean=float(scores.mean()), max_std=max_std)
    assert std <= max_std, (f"{result.name}: {metric} across {len(scores)} folds is {np.round(scores, 4).tolist()}, "
                            f"std {fmt(std)}; expected std <= {fmt(max_std)}")
    return std


def assert_beats(a, b, metric: str | None = None, level: float = 0.95, n_boot: int = 1000):
    """A is better than B: the paired-bootstrap lower bound of (A - B) is above zero."""
    metric = metric or a.metric
    check_same_samples(a, b)
    cmp = paired_bootstrap(metric, a.y, a.oof_probs, b.oof_probs, n_boot, level, seed=0)
    record("beats", a.name, other=b.name, **cmp)
    assert cmp["low"] > 0, (
        f"{a.name} does not beat {b.name} on {metric}: {fmt(cmp['a'])} vs {fmt(cmp['b'])}, delta {fmt(cmp['delta'])} "
        f"[{fmt(cmp['low'])}, {fmt(cmp['high'])}] ({level:.0%} paired bootstrap, p={cmp['p_value']:.3f}); "
        "expected the lower bound > 0")
    return cmp


def assert_not_worse(a, b, margin: float, metric: str | None = None, level: float = 0.95, n_boot: int = 1000):
    """A is not worse than B by more than `margin`: lower bound of (A - B) >= -margin."""
    metric = metric or a.metric
    check_same_samples(a, b)
    cmp = paired_bootstrap(metric, a.y, a.oof_probs, b.oof_probs, n_boot, level, seed=0)
    record("not_worse", a.name, other=b.name, margin=margin, **cmp)
    assert cmp["low"] >= -margin, (
        f"{a.name} is worse than {b.name} on {metric} by more than {fmt(margin)}: {fmt(cmp['a'])} vs {fmt(cmp['b'])}, "
        f"delta {fmt(cmp['delta'])} [{fmt(cmp['low'])}, {fmt(cmp['high'])}] ({level:.0%} paired bootstrap)")
    return cmp


def assert_no_difference(a, b, metric: str | None = None, level: float = 0.95, n_boot: int = 1000):
    """Neither is better: the paired-bootstrap interval of (A - B) contains zero.

    States a measured null result; it fails as soon as either side starts winning."""
    metric = metric or a.metric
    check_same_samples(a, b)
    cmp = paired_bootstrap(metric, a.y, a.oof_probs, b.oof_probs, n_boot, level, seed=0)
    record("no_difference", a.name, other=b.name, **cmp)
    assert cmp["low"] <= 0 <= cmp["high"], (
        f"{a.name} and {b.name} now differ on {metric}: {fmt(cmp['a'])} vs {fmt(cmp['b'])}, delta "
        f"{fmt(cmp['delta'])} [{fmt(cmp['low'])}, {fmt(cmp['high'])}] ({level:.0%} paired bootstrap); "
        "expected no significant difference")
    return cmp


def assert_expected(a, b, expected: str, metric: str | None = None, level: float = 0.95):
    """One of the comparisons by name: 'beats', 'loses', 'no_difference' or 'not_worse:<margin>'."""
    if expected == "beats":
        return assert_beats(a, b, metric, level)
    if expected == "loses":
        return assert_beats(b, a, metric, level)
    if expected == "no_difference":
        return assert_no_difference(a, b, metric, level)
    if expected.startswith("not_worse:"):
        return assert_not_worse(a, b, float(expected.split(":")[1]), metric, level)
    raise ConfigError(f"unknown expectation {expected!r}; use beats, loses, no_difference or not_worse:<margin>")


def dummy_probs(result) -> np.ndarray:
    """The most-frequent-class model, fit on the validated labels' class counts."""
    counts = np.bincount(result.y, minlength=result.oof_probs.shape[1])
    probs = np.zeros_like(result.oof_probs)
    probs[:, counts.argmax()] = 1.0
    return probs


def assert_beats_dummy(result, metric: str | None = None, level: float = 0.95):
    metric = metric or result.metric
    cmp = paired_bootstrap(metric, result.y, result.oof_probs, dummy_probs(result), 1000, level, seed=0)
    record("beats_dummy", result.name, **cmp)
    assert cmp["low"] > 0, (f"{result.name} does not beat the most-frequent-class model on {metric}: "
                            f"{fmt(cmp['a'])} vs {fmt(cmp['b'])} (delta lower bound {fmt(cmp['low'])})")
    return cmp


# --- baselines ----------------------------------------------------------------------------
class Baselines:
    """Promoted baseline scores in a folder, one JSON file per experiment and budget,
    keyed inside by the data fingerprint."""

    def __init__(self, folder: str | Path, update: bool = False):
        self.folder, self.update = Path(folder), update

    def path(self, name: str, budget: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.folder / f"{safe}.{budget}.json"

    def read(self, name: str, budget: str) -> dict:
        path = self.path(name, budget)
        return json.loads(path.read_text()) if path.exists() else {}

    def write(self, name: str, budget: str, records: dict) -> None:
        path = self.path(name, budget)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


def assert_no_regression(result, baselines: Baselines, tolerance: float = 0.0, metric: str | None = None,
                         level: float = 0.95):
    """The score is not below the promoted baseline for this data: fails when the upper CI bound
    is below baseline - tolerance. `--update-baselines` promotes only an improvement."""
    metric = metric or result.metric
    point, low, high = bootstrap_ci(metric, result.y, result.oof_probs, 1000, level, seed=0)
    records = baselines.read(result.name, result.budget)
    baseline = records.get(result.data_fingerprint)
    improved = baseline is None or point > baseline["score"]
    if baselines.update and improved:
        records[result.data_fingerprint] = {"metric": metric, "score": point, "low": low, "high": high,
                                            "promoted": time.strftime("%Y-%m-%d"), "run": result.key}
        baselines.write(result.name, result.budget, records)
        record("baseline", result.name, metric=metric, score=point, baseline=None if baseline is None
               else baseline["score"], promoted=True)
        return point
    if baseline is None:
        other = sorted(records)
        raise AssertionError(
            f"{result.name}: no baseline for this data (fingerprint {result.data_fingerprint}) in "
            f"{baselines.path(result.name, result.budget)}"
            + (f"; it holds baselines for different data: {other}" if other else "")
            + "; run with --update-baselines to record one")
    record("baseline", result.name, metric=metric, score=point, high=high, baseline=baseline["score"],
           tolerance=tolerance, promoted=False)
    assert high >= baseline["score"] - tolerance, (
        f"{result.name}: {metric} regressed to {fmt(point)} [{fmt(low)}, {fmt(high)}] from the baseline "
        f"{fmt(baseline['score'])} (promoted {baseline['promoted']}); expected the upper bound >= "
        f"{fmt(baseline['score'] - tolerance)}")
    return point


# --- leakage ----------------------------------------------------------------------------------
def assert_no_group_leakage(table: pd.DataFrame, folds, name: str = "split"):
    from .data import check_no_leakage

    for k, (train, val) in enumerate(folds):
        check_no_leakage(table.iloc[train], table.iloc[val])
    record("group_leakage", name, folds=len(folds), groups=int(table["group"].nunique()))


def assert_no_duplicates_across(train_images: np.ndarray, other_images: np.ndarray, name: str = "split",
                                max_duplicates: int = 0):
    from .data.eda import duplicates_across, image_hashes

    pairs = duplicates_across(image_hashes(train_images), image_hashes(other_images))
    record("duplicates_across", name, duplicates=len(pairs), max_duplicates=max_duplicates)
    assert len(pairs) <= max_duplicates, (
        f"{name}: {len(pairs)} images appear on both sides (first pairs, train row -> other row: {pairs[:5]}); "
        f"expected at most {max_duplicates}")


# --- submission ---------------------------------------------------------------------------------
def assert_submission_ready(submission: pd.DataFrame, competition, max_distribution_shift: float = 0.25):
    """Ids, row count and value range are exact; the predicted class distribution is within
    `max_distribution_shift` (total variation) of the train distribution."""
    from .submission import class_distribution, validate_submission

    validate_submission(submission, competition)
    task = competition.task
    predicted = class_distribution(submission[task.answer_column], task.num_classes)
    prior = class_distribution(competition.train["label"], task.num_classes)
    shift = 0.5 * float(np.abs(predicted - prior).sum())
    record("submission", competition.name, rows=len(submission), distribution_shift=shift,
           max_shift=max_distribution_shift)
    assert shift <= max_distribution_shift, (
        f"submission class distribution is {np.round(predicted, 3).tolist()} against train "
        f"{np.round(prior, 3).tolist()}: total variation {fmt(shift)}; expected <= {fmt(max_distribution_shift)}")
    return shift
