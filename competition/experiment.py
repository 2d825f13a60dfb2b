"""Experiment spec -> run() -> Result.

An Experiment is a frozen description of one technique; a Budget scales it
(data size, epochs) without changing it; run() trains it fold by fold through
the store, so an unchanged experiment is served without training.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError
from .metrics import compute_metrics, get_metric

EVAL_METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class Budget:
    """How far to scale an experiment: smoke (CI), standard (2-core CPU), full (GPU)."""

    name: str
    max_train: int | None = None      # stratified subsample of the train split
    max_epochs: int | None = None
    max_batch_size: int | None = None  # small data needs small batches to take enough steps
    device: str = "cpu"


BUDGETS = {
    "smoke": Budget("smoke", max_train=3000, max_epochs=5, max_batch_size=64),
    "standard": Budget("standard"),
    "full": Budget("full", device="cuda"),
}


def get_budget(name: str | Budget) -> Budget:
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        raise ConfigError(f"unknown budget {name!r}; known budgets: {list(BUDGETS)}")
    return BUDGETS[name]


@dataclass(frozen=True)
class Experiment:
    """One technique to prove. `name` is its id on the leaderboard."""

    name: str
    data: str = "fashion"                 # a built-in competition or a competition directory
    model: str = "rescnn"
    model_kw: dict = field(default_factory=dict)
    pretrained: str | None = None
    transfer: str = "scratch"
    image_size: int | None = None         # None keeps the source size
    channels: int = 1
    crop: str = "none"
    augmentation: str | tuple = "none"
    aug_backend: str = "albumentations"
    loss: str = "cross_entropy"
    loss_kw: dict = field(default_factory=dict)
    class_weights: str | None = None      # "balanced" sets the loss's class weights from train counts
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"
    epochs: int = 6
    batch_size: int = 256
    mixup: float = 0.0
    cutmix: float = 0.0
    ema_decay: float | None = None
    cv: str = "holdout"                   # "holdout", "<scheme>:<k>" (e.g. "stratified:5") or "bootstrap:<members>"
    train_fraction: float = 1.0           # use a stratified fraction of the train split
    tta: tuple = ()                       # TTA views, e.g. ("identity", "hflip")
    seed: int = 0

    def spec(self) -> dict:
        """Everything that changes the numbers (the name does not)."""
        data = asdict(self)
        data.pop("name")
        data["augmentation"] = list(self.augmentation) if isinstance(self.augmentation, tuple) else self.augmentation
        data["tta"] = list(self.tta)
        return data

    def with_(self, **changes) -> "Experiment":
        return replace(self, **changes)

    def cv_scheme(self) -> tuple[str, int]:
        if self.cv == "holdout":
            return "holdout", 1
        scheme, _, k = self.cv.partition(":")
        if not k.isdigit() or int(k) < 2:
            raise ConfigError(f"cv={self.cv!r}: use 'holdout' or '<scheme>:<k>' with k >= 2, e.g. 'stratified:5'")
        return scheme, int(k)


@dataclass
class Result:
    """What a run produced. OOF rows index the (budget-scaled) train table."""

    name: str
    spec: dict
    budget: str
    key: str
    class_names: list[str]
    metric: str
    y: np.ndarray                 # labels of the OOF rows
    oof_index: np.ndarray         # train-table rows predicted out of fold
    oof_probs: np.ndarray
    eval_ids: np.ndarray
    eval_probs: np.ndarray
    folds: list[dict]             # per fold: val and train metrics, history, best epoch, seconds
    seconds: float
    eval_metrics: dict | None = None   # only where eval answers exist (built-in competitions)
    data_fingerprint: str = ""
    train_rows: int = 0           # rows of the (budget-scaled) train table
    cache_hit: bool = False
    members: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def oof_metrics(self) -> dict[str, float]:
        return compute_metrics(self.y, self.oof_probs, EVAL_METRICS)

    def fold_scores(self, metric: str | None = None) -> np.ndarray:
        metric = metric or self.metric
        return np.array([f["val_metrics"][metric] for f in self.folds])

    def train_score(self, metric: str | None = None) -> float:
        metric = metric or self.metric
        return float(np.mean([f["train_metrics"][metric] for f in self.folds]))

    def gap(self, metric: str | None = None) -> float:
        """Train minus validation, both on unaugmented images, averaged over folds."""
        metric = metric or self.metric
        return self.train_score(metric) - float(np.mean(self.fold_scores(metric)))

    def fold_summary(self) -> dict[str, dict[str, float]]:
        """Mean and std over folds of each train and val metric."""
        out = {}
        for side in ("train_metrics", "val_metrics"):
            for metric in EVAL_METRICS:
                values = np.array([f[side][metric] for f in self.folds])
                out[f"{side[:-8]}_{metric}"] = {"mean": float(values.mean()),
                                                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
        return out

    def score(self, metric: str | None = None) -> float:
        return float(get_metric(metric or self.metric)(self.y, self.oof_probs))


# --- data preparation ---------------------------------------------------------------------
@dataclass
class PreparedData:
    competition: object
    table: pd.DataFrame         # the budget-scaled train table
    images: np.ndarray          # its cached images, row-aligned
    eval_images: np.ndarray
    fingerprint: str


def subsample(table: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """A stratified subsample of n rows (all rows when n >= len)."""
    from sklearn.model_selection import train_test_split

    if n >= len(table):
        return np.arange(len(table))
    counts = table["label"].value_counts()
    stratify = table["label"] if (counts >= 2).all() and n >= len(counts) else None
    keep, _ = train_test_split(np.arange(len(table)), train_size=n, random_state=seed, stratify=stratify)
    return np.sort(keep)


def prepare_data(experiment: Experiment, budget: Budget, data_root=None) -> PreparedData:
    from .data import Preprocess, open_competition
    from .data.cache import open_cache

    competition = open_competition(experiment.data, data_root)
    table = competition.train
    rows = np.arange(len(table))
    if experiment.train_fraction < 1.0:
        rows = subsample(table, max(len(competition.task.class_names), round(experiment.train_fraction * len(table))),
                         seed=0)
    if budget.max_train is not None:
        rows = rows[subsample(table.iloc[rows], budget.max_train, seed=0)]
    table = table.iloc[rows].reset_index(drop=True)
    size = (experiment.image_size,) * 2 if experiment.image_size else None
    spec = Preprocess(size=size, crop=experiment.crop, channels=experiment.channels)
    cache_dir = competition.root / ".cache"
    images, train_key = open_cache(table["path"], spec, cache_dir)
    eval_images, eval_key = open_cache(competition.eval["path"], spec, cache_dir) if len(competition.eval) else (None, "")
    labels_hash = pd.util.hash_pandas_object(table[["image_id", "label", "group"]], index=False).sum()
    fingerprint = f"{train_key[:16]}-{eval_key[:16]}-{labels_hash & 0xFFFFFFFF:08x}"
    return PreparedData(competition, table, images, eval_images, fingerprint)


def eval_answers(competition) -> np.ndarray | None:
    from .data import read_answers

    return read_answers(competition).to_numpy() if competition.has_answers() else None


# --- run ------------------------------------------------------------------------------------
def run(experiment: Experiment, budget: str | Budget = "standard", store=None, data_root=None, device: str | None = None,
        rerun: bool = False, progress_file=None, log=None) -> Result:
    """Train and score `experiment` at `budget`, fold by fold, through `store` (a Store or None)."""
    from . import cv

    budget = get_budget(budget)
    device = device or budget.device
    started = time.perf_counter()
    data = prepare_data(experiment, budget, data_root)
    key = store.key(experiment.spec(), data.fingerprint, budget.name) if store is not None else ""
    if store is not None and not rerun and (hit := store.load_result(key, experiment.name)) is not None:
        return hit
    folds = cv.make_folds(experiment, data.table)
    outputs = [cv.fold_through_store(experiment, data, fold, train_idx, val_idx, budget, device, store, key, rerun,
                                     progress_file, log)
               for fold, (train_idx, val_idx) in enumerate(folds)]
    result = cv.assemble(experiment, data, budget, key, outputs, time.perf_counter() - started)
    answers = eval_answers(data.competition)
    if answers is not None:
        result.eval_metrics = compute_metrics(answers, result.eval_probs, EVAL_METRICS)
    if store is not None:
        store.save_result(key, result)
    return result


def result_to_json(result: Result) -> dict:
    data = {k: v for k, v in result.__dict__.items()
            if k not in ("y", "oof_index", "oof_probs", "eval_ids", "eval_probs", "path", "cache_hit")}
    return json.loads(json.dumps(data, default=float))
