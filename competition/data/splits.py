"""Train/validation splits from scikit-learn, as index arrays from a fixed seed."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import (GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold,
                                     train_test_split)

from ..errors import ConfigError, DataError

SCHEMES = ("holdout", "kfold", "stratified", "group", "stratified_group")


class LeakageError(AssertionError):
    """The same group or image appears on both sides of a split."""


def make_splits(table: pd.DataFrame, scheme: str = "stratified", n_splits: int = 5, seed: int = 0,
                val_fraction: float = 0.2) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, val_idx) pairs over the rows of `table` (label and group columns)."""
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown split scheme {scheme!r}; known: {list(SCHEMES)}")
    y = table["label"].to_numpy()
    groups = table["group"].to_numpy() if "group" in table else np.arange(len(table))
    index = np.arange(len(table))
    if scheme == "holdout":
        train, val = train_test_split(index, test_size=val_fraction, random_state=seed, stratify=y)
        return [(np.sort(train), np.sort(val))]
    if scheme in ("stratified", "stratified_group"):
        counts = pd.Series(y).value_counts()
        if counts.min() < n_splits:
            raise DataError(
                f"stratified {n_splits}-fold split: class {counts.idxmin()} has only {counts.min()} "
                f"member(s), fewer than the {n_splits} folds; use fewer folds, merge rare classes, "
                "or scheme='kfold'")
    splitters = {
        "kfold": KFold(n_splits, shuffle=True, random_state=seed),
        "stratified": StratifiedKFold(n_splits, shuffle=True, random_state=seed),
        "group": GroupKFold(n_splits, shuffle=True, random_state=seed),
        "stratified_group": StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed),
    }
    groups_arg = groups if "group" in scheme else None
    return [(train, val) for train, val in splitters[scheme].split(index, y, groups_arg)]


def check_no_leakage(train: pd.DataFrame, val: pd.DataFrame, column: str = "group") -> None:
    """Raise LeakageError naming the values of `column` found on both sides."""
    shared = sorted(set(train[column]) & set(val[column]))
    if shared:
        shown = ", ".join(map(str, shared[:10])) + (" ..." if len(shared) > 10 else "")
        raise LeakageError(f"{len(shared)} {column}(s) on both sides of the split: {shown}; "
                           "split by group (scheme='group' or 'stratified_group')")
