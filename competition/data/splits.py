"""Train/validation splits from scikit-learn, as index arrays from a fixed seed.

Groups (a person, a patient, a source image) never straddle a split: when a
table's groups repeat, `holdout` becomes a stratified group split, and the
schemes that ignore groups (`kfold`, `stratified`, `bootstrap` by row) are
refused with the groups they would split.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.model_selection import (GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold,
                                     train_test_split)

from ..errors import ConfigError, DataError
from ..registry import CV_SCHEMES, SpecObject

GROUP_AWARE = {"holdout", "group", "stratified_group", "bootstrap"}
for _scheme in ("holdout", "kfold", "stratified", "group", "stratified_group", "bootstrap"):
    CV_SCHEMES.register(_scheme, _scheme)


CONFIRM_FRACTION = 0.2  # of a competition's train rows, held out from every search (Experiment(rows="search"))
CONFIRM_SEED = 20261201  # fixed: one confirmation split per competition, whatever the search or its seeds


class LeakageError(AssertionError):
    """The same row, group or image appears on both sides of a split."""


def groups_repeat(table: pd.DataFrame) -> bool:
    return "group" in table and bool(table["group"].duplicated().any())


def refuse_group_unaware(table: pd.DataFrame, scheme: str) -> None:
    repeated = table["group"][table["group"].duplicated(keep=False)].unique()
    shown = ", ".join(map(str, repeated[:5])) + (" ..." if len(repeated) > 5 else "")
    raise ConfigError(f"cv scheme {scheme!r} ignores groups, but {len(repeated)} groups have several rows "
                      f"({shown}) and would be split across train and validation; use 'stratified_group:<k>' "
                      "or 'group:<k>' (or 'holdout', which is group-aware)")


def make_splits(table: pd.DataFrame, scheme: str = "stratified", n_splits: int = 5, seed: int = 0,
                val_fraction: float = 0.2) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, val_idx) pairs over the rows of `table` (label and group columns).

    For 'bootstrap', n_splits is the number of members; each trains on a resample
    (of groups, when groups repeat) and is validated out of bag."""
    entry = CV_SCHEMES.get(scheme)
    if isinstance(entry, SpecObject):
        return splitter_splits(entry.obj, table, scheme)
    grouped = groups_repeat(table)
    if grouped and scheme not in GROUP_AWARE:
        refuse_group_unaware(table, scheme)
    y = table["label"].to_numpy()
    groups = table["group"].to_numpy() if "group" in table else np.arange(len(table))
    index = np.arange(len(table))
    if scheme == "bootstrap":
        return bootstrap_splits(groups if grouped else index, n_splits, seed)
    if scheme == "holdout":
        if grouped:  # one fold of a stratified group split holds out ~val_fraction of the groups
            splitter = StratifiedGroupKFold(max(2, round(1 / val_fraction)), shuffle=True, random_state=seed)
            return [next(iter(splitter.split(index, y, groups)))]
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


def splitter_splits(splitter, table: pd.DataFrame, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """One's own scikit-learn splitter (a copy, so its state is fresh), called with the labels and groups;
    folds that put one group on both sides are refused before any training."""
    y = table["label"].to_numpy()
    groups = table["group"].to_numpy() if "group" in table else None
    try:
        folds = [(np.asarray(train), np.asarray(val))
                 for train, val in copy.deepcopy(splitter).split(np.zeros((len(table), 1)), y, groups)]
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cv {name}: the splitter failed on {len(table)} rows ({type(exc).__name__}: {exc})") from exc
    if groups is not None and groups_repeat(table):
        for fold, (train, val) in enumerate(folds):
            shared = set(groups[train]) & set(groups[val])
            if shared:
                raise ConfigError(f"cv {name}: fold {fold} puts {len(shared)} group(s) on both sides (e.g. "
                                  f"{sorted(map(str, shared))[:3]}); use a group-aware splitter (GroupKFold, "
                                  "StratifiedGroupKFold) or 'stratified_group:<k>'")
    return folds


def bootstrap_splits(units: np.ndarray, members: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bagging: each member trains on a resample of the units (rows or groups), scored out of bag."""
    labels, row_unit = np.unique(units, return_inverse=True)
    splits = []
    for member in range(members):
        drawn = np.random.default_rng([seed, member]).integers(0, len(labels), size=len(labels))
        copies = np.bincount(drawn, minlength=len(labels))[row_unit]
        splits.append((np.repeat(np.arange(len(units)), copies), np.flatnonzero(copies == 0)))
    return splits


def check_disjoint(table: pd.DataFrame, train_idx: np.ndarray, val_idx: np.ndarray, where: str = "split") -> None:
    """Raise LeakageError when a row or a group is on both sides."""
    shared_rows = np.intersect1d(train_idx, val_idx)
    if len(shared_rows):
        raise LeakageError(f"{where}: {len(shared_rows)} row(s) are in both train and validation "
                           f"(first: {shared_rows[:5].tolist()}); the folds overlap")
    if "group" in table:
        check_no_leakage(table.iloc[np.unique(train_idx)], table.iloc[val_idx])


def check_no_leakage(train: pd.DataFrame, val: pd.DataFrame, column: str = "group") -> None:
    """Raise LeakageError naming the values of `column` found on both sides."""
    shared = sorted(set(train[column]) & set(val[column]))
    if shared:
        shown = ", ".join(map(str, shared[:10])) + (" ..." if len(shared) > 10 else "")
        raise LeakageError(f"{len(shared)} {column}(s) on both sides of the split: {shown}; "
                           "split by group (scheme='group' or 'stratified_group')")


def confirmation_split(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(search rows, confirmation rows) of a competition's train table: a stratified, group-aware holdout of
    CONFIRM_FRACTION drawn with CONFIRM_SEED, so it is the same for every search on that competition. A search
    selects on the search rows only; its winner is confirmed on rows no trial has seen."""
    search, confirm = make_splits(table, "holdout", seed=CONFIRM_SEED, val_fraction=CONFIRM_FRACTION)[0]
    return np.sort(search), np.sort(confirm)
