"""Train/validation splits from scikit-learn, as index arrays from a fixed seed.

Groups (a person, a patient, a source image) never straddle a split: when a
table's groups repeat, `holdout` becomes a stratified group split, and the
schemes that ignore groups (`kfold`, `stratified`, `bootstrap` by row) are
refused with the groups they would split.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, train_test_split

from ..errors import ConfigError, DataError, did_you_mean
from ..registry import CV_SCHEMES, SpecObject

CONFIRM_FRACTION = 0.2  # of a competition's train rows, held out from every search (Experiment(rows="search"))
CONFIRM_SEED = 20261201  # fixed: one confirmation split per competition, whatever the search or its seeds


class LeakageError(AssertionError):
    """The same row, group or image appears on both sides of a split."""


def groups_repeat(table: pd.DataFrame) -> bool:
    return "group" in table and bool(table["group"].duplicated().any())


def refuse_group_unaware(table: pd.DataFrame, scheme: str) -> None:
    repeated = table["group"][table["group"].duplicated(keep=False)].unique()
    shown = ", ".join(map(str, repeated[:5])) + (" ..." if len(repeated) > 5 else "")
    raise ConfigError(
        f"cv scheme {scheme!r} ignores groups, but {len(repeated)} groups have several rows "
        f"({shown}) and would be split across train and validation; use 'stratified_group:<k>' "
        "or 'group:<k>' (or 'holdout', which is group-aware)"
    )


Folds = list[tuple[np.ndarray, np.ndarray]]
PREDICTS = ("once", "at_most_once", "out_of_bag")


class RareClassError(DataError):
    """A class with too few rows for a split. Its message says "class <index>"; make_splits names the class
    too, where it is given the class names (the schemes see the labels as indices only)."""

    def __init__(self, template: str, label):
        super().__init__(template.format(cls=f"class {label}"))
        self.template, self.label = template, label

    def named(self, class_names) -> DataError:
        index = int(self.label)
        shown = f"class {index} ({class_names[index]!r})" if 0 <= index < len(class_names) else f"class {index}"
        return DataError(self.template.format(cls=shown))


@dataclass(frozen=True)
class CvScheme:
    """A registered CV scheme and what the harness needs of it: its folds(table, k, seed, val_fraction),
    whether it keeps a table's groups apart, and how often it predicts each train row, which decides how
    the OOF rows are pooled (cv.pool_folds) and whether post-hoc TTA can re-predict them:
      "once":         every row exactly once (K-fold);
      "at_most_once": some rows once, the others never (a holdout, one's own splitter);
      "out_of_bag":   each row zero or several times, its predictions averaged (bagging)."""

    folds: Callable[[pd.DataFrame, int, int, float], Folds]
    group_aware: bool
    predicts: str = "once"

    def __post_init__(self):
        if self.predicts not in PREDICTS:
            raise ConfigError(f"CvScheme(predicts={self.predicts!r}); use one of {PREDICTS}")

    @property
    def code(self) -> Callable:
        """The code behind the entry (one's own scheme is keyed by its source: registry.source_digest)."""
        return self.folds


def cv_entry(name: str) -> CvScheme:
    """The entry of a scheme name, or of the name a spec gave its own scikit-learn splitter."""
    entry = CV_SCHEMES.get(name)
    if isinstance(entry, SpecObject):  # one's own splitter: group leakage is checked on its folds
        return CvScheme(
            lambda table, k, seed, val_fraction: splitter_splits(entry.obj, table, name, seed),
            group_aware=True,
            predicts="at_most_once",
        )
    key = CV_SCHEMES.check(name)
    if key.endswith(":"):  # a scheme of an argument ("folds:<column>"): its entry makes the scheme
        return entry(name[len(key) :])
    return entry


HOLDOUT_FRACTION = 0.2  # a holdout's validation share unless the caller says


def make_splits(
    table: pd.DataFrame,
    scheme: str = "stratified",
    n_splits: int = 5,
    seed: int = 0,
    val_fraction: float = HOLDOUT_FRACTION,
    class_names=(),
) -> Folds:
    """(train_idx, val_idx) pairs over the rows of `table` (label and group columns).

    For 'bootstrap', n_splits is the number of members; each trains on a resample
    (of groups, when groups repeat) and is validated out of bag; 'holdout' ignores it. `class_names` name
    a class with too few rows for the split."""
    entry = cv_entry(scheme)
    if groups_repeat(table) and not entry.group_aware:
        refuse_group_unaware(table, scheme)
    try:
        return entry.folds(table, n_splits, seed, val_fraction)
    except RareClassError as exc:
        raise exc.named(class_names) from None


def labels_groups_index(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labels, the groups (each row its own where the table has none) and the row index."""
    groups = table["group"].to_numpy() if "group" in table else np.arange(len(table))
    return table["label"].to_numpy(), groups, np.arange(len(table))


def check_enough_groups(groups: np.ndarray, n_splits: int, scheme: str) -> None:
    """Each fold validates on at least one group (a row, where there are no groups)."""
    count = len(pd.unique(groups))
    if count < n_splits:
        raise DataError(
            f"{scheme}: {n_splits} folds need at least {n_splits} groups (rows, where there are no "
            f"groups), and the train split has {count}; use at most {count} folds, or more data"
        )


def check_holdout_can_stratify(y: np.ndarray, val_fraction: float) -> None:
    """A stratified holdout puts at least one row of every class on each side."""
    counts = pd.Series(y).value_counts()
    val_rows = int(np.ceil(val_fraction * len(y)))
    if counts.min() < 2 or val_rows < len(counts) or len(y) - val_rows < len(counts):
        rare = f"; {{cls}} has {counts.min()} row(s)" if counts.min() < 2 else ""
        raise RareClassError(
            f"holdout split: a stratified holdout of {val_fraction:.0%} ({val_rows} of {len(y)} rows) "
            f"cannot hold a row of each of the {len(counts)} classes on both sides{rare}; use "
            "cv='stratified:<k>' (every row validated once, k at most the smallest class's rows) "
            "or cv='kfold:<k>', or give the rare classes more rows",
            counts.idxmin(),
        )


def holdout_folds(table: pd.DataFrame, n_splits: int, seed: int, val_fraction: float) -> Folds:
    y, groups, index = labels_groups_index(table)
    if groups_repeat(table):  # one fold of a stratified group split holds out ~val_fraction of the groups
        splitter = StratifiedGroupKFold(max(2, round(1 / val_fraction)), shuffle=True, random_state=seed)
        check_enough_groups(groups, splitter.n_splits, f"holdout split (a {splitter.n_splits}-fold group split)")
        return [next(iter(splitter.split(index, y, groups)))]
    check_holdout_can_stratify(y, val_fraction)
    train, val = train_test_split(index, test_size=val_fraction, random_state=seed, stratify=y)
    return [(np.sort(train), np.sort(val))]


def bagging_folds(table: pd.DataFrame, n_splits: int, seed: int, val_fraction: float) -> Folds:
    _, groups, index = labels_groups_index(table)
    return bootstrap_splits(groups if groups_repeat(table) else index, n_splits, seed)


def k_fold(splitter_class: type, stratified: bool, grouped: bool) -> Callable[..., Folds]:
    """The folds of a scikit-learn K-fold splitter class (shuffled, seeded)."""

    def folds(table: pd.DataFrame, n_splits: int, seed: int, val_fraction: float) -> Folds:
        y, groups, index = labels_groups_index(table)
        if stratified:
            counts = pd.Series(y).value_counts()
            if counts.min() < n_splits:
                raise RareClassError(
                    f"stratified {n_splits}-fold split: {{cls}} has only {counts.min()} "
                    f"member(s), fewer than the {n_splits} folds; use fewer folds, merge rare classes, "
                    "or scheme='kfold'",
                    counts.idxmin(),
                )
        check_enough_groups(groups if grouped else index, n_splits, f"{splitter_class.__name__} split")
        splitter = splitter_class(n_splits, shuffle=True, random_state=seed)
        return [(train, val) for train, val in splitter.split(index, y, groups if grouped else None)]

    return folds


for _name, _scheme in {
    "holdout": CvScheme(holdout_folds, group_aware=True, predicts="at_most_once"),
    "kfold": CvScheme(k_fold(KFold, stratified=False, grouped=False), group_aware=False),
    "stratified": CvScheme(k_fold(StratifiedKFold, stratified=True, grouped=False), group_aware=False),
    "group": CvScheme(k_fold(GroupKFold, stratified=False, grouped=True), group_aware=True),
    "stratified_group": CvScheme(k_fold(StratifiedGroupKFold, stratified=True, grouped=True), group_aware=True),
    "bootstrap": CvScheme(bagging_folds, group_aware=True, predicts="out_of_bag"),
}.items():
    CV_SCHEMES.register(_name, _scheme)


def seeded_copy(splitter, seed: int):
    """A copy of one's own splitter (so its state is fresh) whose shuffling is seeded: StratifiedKFold(5,
    shuffle=True) or ShuffleSplit() without a random_state draw other folds at every call, so the same spec
    would score other rows on every run and the store would serve one draw as the spec's. Such a copy takes
    the spec's split seed; a random_state the user gave is kept."""
    splitter = copy.deepcopy(splitter)
    shuffles = getattr(splitter, "shuffle", True)  # the ShuffleSplit family has no switch: it always shuffles
    if hasattr(splitter, "random_state") and splitter.random_state is None and shuffles:
        splitter.random_state = seed
    return splitter


def splitter_splits(splitter, table: pd.DataFrame, name: str, seed: int) -> Folds:
    """One's own scikit-learn splitter (a seeded copy), called with the labels and groups; folds that put one
    group on both sides are refused before any training."""
    y = table["label"].to_numpy()
    groups = table["group"].to_numpy() if "group" in table else None
    try:
        folds = [
            (np.asarray(train), np.asarray(val))
            for train, val in seeded_copy(splitter, seed).split(np.zeros((len(table), 1)), y, groups)
        ]
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cv {name}: the splitter failed on {len(table)} rows ({type(exc).__name__}: {exc})") from exc
    beyond = max((int(idx.max()) for fold in folds for idx in fold if len(idx)), default=-1)
    fixed = getattr(splitter, "test_fold", None)  # PredefinedSplit: a fold number per row of the table it was made for
    if beyond >= len(table) or (fixed is not None and len(fixed) != len(table)):
        made_for = len(fixed) if fixed is not None else f"{beyond + 1}+"
        raise ConfigError(
            f"cv {name}: the splitter holds the folds of {made_for} rows, and "
            f"the train table here has {len(table)} (a budget's subsample, or rows skipped), so its folds would "
            "fall on other rows; put the fold numbers in a column of train.csv and use cv='folds:<column>'"
        )
    check_groups_apart(folds, table, f"cv {name}")
    return folds


SPLITTER_FIX = "use a group-aware splitter (GroupKFold, StratifiedGroupKFold) or 'stratified_group:<k>'"


def check_groups_apart(folds: Folds, table: pd.DataFrame, what: str, fix: str = SPLITTER_FIX) -> None:
    """Folds that put one group on both sides are refused before any training."""
    if not groups_repeat(table):
        return
    groups = table["group"].to_numpy()
    for fold, (train, val) in enumerate(folds):
        shared = set(groups[train]) & set(groups[val])
        if shared:
            raise ConfigError(
                f"{what}: fold {fold} puts {len(shared)} group(s) on both sides (e.g. "
                f"{sorted(map(str, shared))[:3]}); {fix}"
            )


TABLE_COLUMNS = ("image_id", "path", "label", "group")


def check_fold_column(columns, column: str) -> None:
    """cv='folds:<column>' names a column of train.csv beside the path, label and group."""
    if column not in columns or column in TABLE_COLUMNS:
        others = [c for c in columns if c not in TABLE_COLUMNS]
        raise ConfigError(
            f"cv='folds:{column}': the train table has no column {column!r}{did_you_mean(column, others)}; the "
            f"scheme reads a column of train/train.csv, whose columns beside the path, label and group are {others}"
        )


def column_folds(table: pd.DataFrame, column: str) -> Folds:
    """The folds a column of train.csv assigns: each value is one fold's validation rows; -1 or an empty cell
    is a row that only trains (scikit-learn's PredefinedSplit)."""
    check_fold_column(table.columns, column)
    values = table[column]
    numbers = pd.to_numeric(values, errors="coerce")
    blank = values.isna() | values.astype(str).str.strip().eq("")
    if numbers[~blank].notna().all():  # 1 and 1.0 (pandas' float column, where a cell is empty) are one fold
        fold_of, never = numbers, blank | numbers.eq(-1)
    else:
        fold_of, never = values.astype(str).str.strip(), blank | values.astype(str).str.strip().eq("-1")
    names = sorted(fold_of[~never].unique())
    if len(names) < 2:
        raise ConfigError(
            f"cv='folds:{column}': column {column!r} gives {len(names)} fold(s) ({names}); it needs at least two "
            "values besides -1 or an empty cell (a row that only trains)"
        )
    at = fold_of.to_numpy()
    folds = [
        (np.flatnonzero((at != name) | never.to_numpy()), np.flatnonzero((at == name) & ~never.to_numpy()))
        for name in names
    ]
    check_groups_apart(folds, table, f"cv='folds:{column}'", "give every row of a group the same fold")
    return folds


def column_scheme(column: str) -> CvScheme:
    """cv="folds:<column>": the folds a column of train.csv assigns (Kaggle's `fold` or `kfold` column, shared by
    a team so that out-of-fold predictions line up). It reads the column of the rows as they are after the
    budget's subsample and skipped rows, which a splitter made for the whole CSV (PredefinedSplit) does not."""
    if not column:
        raise ConfigError("cv='folds:': name the column of train.csv that holds the folds, e.g. cv='folds:fold'")
    return CvScheme(
        lambda table, k, seed, val_fraction: column_folds(table, column), group_aware=True, predicts="at_most_once"
    )


CV_SCHEMES.register("folds:", column_scheme)


def bootstrap_splits(units: np.ndarray, members: int, seed: int) -> Folds:
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
        raise LeakageError(
            f"{where}: {len(shared_rows)} row(s) are in both train and validation "
            f"(first: {shared_rows[:5].tolist()}); the folds overlap"
        )
    if "group" in table:
        check_no_leakage(table.iloc[np.unique(train_idx)], table.iloc[val_idx])


def check_no_leakage(train: pd.DataFrame, val: pd.DataFrame, column: str = "group") -> None:
    """Raise LeakageError naming the values of `column` found on both sides."""
    shared = sorted(set(train[column]) & set(val[column]))
    if shared:
        shown = ", ".join(map(str, shared[:10])) + (" ..." if len(shared) > 10 else "")
        raise LeakageError(
            f"{len(shared)} {column}(s) on both sides of the split: {shown}; "
            "split by group (scheme='group' or 'stratified_group')"
        )


def confirmation_split(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(search rows, confirmation rows) of a competition's train table: a stratified, group-aware holdout of
    CONFIRM_FRACTION drawn with CONFIRM_SEED, so it is the same for every search on that competition. A search
    selects on the search rows only; its winner is confirmed on rows no trial has seen."""
    search, confirm = make_splits(table, "holdout", seed=CONFIRM_SEED, val_fraction=CONFIRM_FRACTION)[0]
    return np.sort(search), np.sort(confirm)
