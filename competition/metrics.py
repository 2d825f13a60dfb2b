"""Metrics on numpy arrays through scikit-learn, bootstrap confidence intervals
and a paired bootstrap comparison of two models on the same samples.

Every metric takes (y_true: int array (N,), probs: float array (N, C)).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .errors import ConfigError


def _pred(probs: np.ndarray) -> np.ndarray:
    return np.asarray(probs).argmax(axis=1)


def _labels(probs) -> list[int]:
    return list(range(np.asarray(probs).shape[1]))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda y, p: skm.accuracy_score(y, _pred(p)),
    "macro_f1": lambda y, p: skm.f1_score(y, _pred(p), average="macro", labels=_labels(p), zero_division=0),
    "weighted_f1": lambda y, p: skm.f1_score(y, _pred(p), average="weighted", labels=_labels(p), zero_division=0),
    "precision": lambda y, p: skm.precision_score(y, _pred(p), average="macro", labels=_labels(p), zero_division=0),
    "recall": lambda y, p: skm.recall_score(y, _pred(p), average="macro", labels=_labels(p), zero_division=0),
    "roc_auc": lambda y, p: skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=_labels(p)),
    "log_loss": lambda y, p: skm.log_loss(y, np.clip(p, 1e-7, 1), labels=_labels(p)),
}
HIGHER_IS_BETTER = {name: name != "log_loss" for name in METRICS}


def get_metric(name: str) -> Callable:
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; known metrics: {sorted(METRICS)}")
    return METRICS[name]


def compute_metrics(y: np.ndarray, probs: np.ndarray, names=("accuracy", "macro_f1")) -> dict[str, float]:
    return {name: float(get_metric(name)(y, probs)) for name in names}


def confusion(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return skm.confusion_matrix(y, _pred(probs), labels=_labels(probs))


def per_class_report(y: np.ndarray, probs: np.ndarray, class_names) -> pd.DataFrame:
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, _pred(probs), labels=_labels(probs), zero_division=0)
    return pd.DataFrame({"class": list(class_names), "precision": precision, "recall": recall,
                         "f1": f1, "support": support})


# --- bootstrap ---------------------------------------------------------------------
def _from_confusion(name: str, cm: np.ndarray) -> np.ndarray:
    """Confusion-derived metrics for a stack of confusion matrices (B, C, C)."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    predicted, actual = cm.sum(axis=1), cm.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "accuracy":
            return tp.sum(1) / cm.sum(axis=(1, 2))
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        if name == "precision":
            return precision.mean(1)
        if name == "recall":
            return recall.mean(1)
        f1 = np.where(2 * tp + (predicted - tp) + (actual - tp) > 0,
                      2 * tp / (2 * tp + (predicted - tp) + (actual - tp)), 0.0)
        if name == "macro_f1":
            return f1.mean(1)
        return (f1 * actual).sum(1) / actual.sum(1)  # weighted_f1


FAST = {"accuracy", "macro_f1", "weighted_f1", "precision", "recall"}


def bootstrap_scores(metric: str, y: np.ndarray, probs: np.ndarray, n_boot: int = 1000,
                     seed: int = 0, draws: np.ndarray | None = None) -> np.ndarray:
    """The metric on n_boot resamples (with replacement) of the samples.

    Confusion-derived metrics are computed from per-resample confusion matrices
    (same value as scikit-learn, about 100x faster); others call scikit-learn.
    """
    y, probs = np.asarray(y), np.asarray(probs)
    n, c = probs.shape
    if draws is None:
        draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    if metric in FAST:
        cells = y * c + _pred(probs)
        cms = np.stack([np.bincount(cells[d], minlength=c * c) for d in draws]).reshape(-1, c, c)
        return _from_confusion(metric, cms)
    fn = get_metric(metric)
    scores = []
    for d in draws:
        try:
            scores.append(fn(y[d], probs[d]))
        except ValueError:  # e.g. a resample missing a class for ROC-AUC
            scores.append(np.nan)
    return np.asarray(scores)


def bootstrap_ci(metric: str, y, probs, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(point estimate, lower, upper): a seeded percentile bootstrap interval."""
    point = float(get_metric(metric)(np.asarray(y), np.asarray(probs)))
    scores = bootstrap_scores(metric, y, probs, n_boot, seed)
    alpha = (1 - level) / 2
    low, high = np.nanquantile(scores, [alpha, 1 - alpha])
    return point, float(low), float(high)


def paired_bootstrap(metric: str, y, probs_a, probs_b, n_boot: int = 1000, level: float = 0.95,
                     seed: int = 0) -> dict:
    """Compare A and B on the same resamples: delta = A - B (sign-flipped for log_loss).

    Returns delta, its percentile interval, and p_value: the share of resamples
    where A is not better than B.
    """
    y = np.asarray(y)
    if np.shape(probs_a) != np.shape(probs_b) or len(y) != len(probs_a):
        raise ConfigError(f"paired bootstrap needs predictions on the same samples: y {y.shape}, "
                          f"A {np.shape(probs_a)}, B {np.shape(probs_b)}")
    draws = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    a = bootstrap_scores(metric, y, probs_a, draws=draws)
    b = bootstrap_scores(metric, y, probs_b, draws=draws)
    deltas = sign * (a - b)
    alpha = (1 - level) / 2
    low, high = np.nanquantile(deltas, [alpha, 1 - alpha])
    fn = get_metric(metric)
    point_a, point_b = float(fn(y, np.asarray(probs_a))), float(fn(y, np.asarray(probs_b)))
    return {"metric": metric, "a": point_a, "b": point_b, "delta": sign * (point_a - point_b),
            "low": float(low), "high": float(high), "p_value": float(np.mean(deltas <= 0)), "level": level}
