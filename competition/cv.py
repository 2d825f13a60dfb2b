"""Layer 3. Cross-validation: one model per fold and seed -> out-of-fold (OOF) predictions.

A Unit (one fold of one training seed) is the unit of work: `run_fold` turns
(spec, prepared data, unit) into an output that depends on nothing else, so
units can run anywhere, in any order, and each is stored on its own.
`assemble` pools the outputs into a Result with per-seed probabilities.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from .augment import create_augmentation
from .data import CachedDataset
from .data.splits import check_disjoint, cv_entry, make_splits
from .errors import ConfigError, DataError
from .experiment import Budget, Experiment, PreparedData, Provenance, Result, scored_metrics
from .metrics import compute_metrics
from .models import create_model
from .train import Callback, TrainConfig, balanced_class_weights, fit, predict, seed_everything
from .tta import tta_predict


@dataclass(frozen=True)
class Unit:
    """One fold of one training seed."""

    fold: int
    seed: int
    train_idx: np.ndarray
    val_idx: np.ndarray

    @property
    def torch_seed(self) -> int:
        """Initialisation, data order and augmentation draws follow this seed."""
        return self.seed * 100 + self.fold

    @property
    def label(self) -> str:
        return unit_label(self.fold, self.seed)


def unit_label(fold: int, seed: int) -> str:
    """How a unit is named in the store, the logs and trackers."""
    return f"fold{fold}-seed{seed}"


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields, not outputs
class UnitOutput:
    """What training one unit gives: its validation rows' probabilities, the eval rows' probabilities, the
    metrics on both sides of its generalisation gap and its history. The hand-off between run_fold, the
    executors, the store and `assemble`; nothing in it depends on where or when the unit trained."""

    fold: int
    seed: int
    val_index: np.ndarray
    val_probs: np.ndarray
    eval_probs: np.ndarray
    val_metrics: dict[str, float]
    train_metrics: dict[str, float]
    history: list[dict]
    kept_epoch: int
    applied: dict  # what the budget made of the spec: epochs, batch size, train rows
    seconds: float

    ARRAYS: ClassVar[tuple[str, ...]] = ("val_index", "val_probs", "eval_probs")

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name)) for name in self.ARRAYS}

    def record(self) -> dict:
        """Everything but the arrays: what a Result keeps of each unit (Result.folds) and the store's meta."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.ARRAYS}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], record: dict) -> "UnitOutput":
        """Rebuild a stored output; a ValueError names the fields that are missing or foreign."""
        names = {f.name for f in fields(cls)}
        given = set(arrays) | set(record)
        if given != names:
            raise ValueError(
                f"a unit output needs the fields {sorted(names)}; missing {sorted(names - given)}, "
                f"foreign {sorted(given - names)}"
            )
        given_fields: dict[str, Any] = {**arrays, **record}
        return cls(**given_fields)


def make_folds(experiment: Experiment, table, class_names=()) -> list[tuple[np.ndarray, np.ndarray]]:
    """The experiment's split of `table`; the split follows split_seed, never the training seeds."""
    scheme, k = experiment.cv_scheme()
    try:
        folds = make_splits(table, scheme, n_splits=k, seed=experiment.split_seed_value, class_names=class_names)
    except ConfigError as exc:
        raise ConfigError(f"{experiment.name}: {exc}") from exc
    if cv_entry(scheme).predicts != "out_of_bag":
        refuse_overlapping_validation(experiment.name, [val_idx for _, val_idx in folds])
    return folds


def refuse_overlapping_validation(name: str, val_indices: list[np.ndarray]) -> None:
    """Each train row is validated by one fold at most: the OOF score counts each row once. Checked when the
    folds are made, before anything trains (one's own ShuffleSplit failed only after every fold had trained)."""
    rows = np.concatenate(val_indices).astype(np.int64) if val_indices else np.zeros(0, np.int64)
    repeated = np.flatnonzero(np.bincount(rows) > 1)
    if len(repeated):
        raise DataError(
            f"{name}: {len(repeated)} train row(s) are validated by more than one fold (first: "
            f"{repeated[:5].tolist()}); the folds overlap, so out-of-fold scores would count them twice (a splitter "
            "such as ShuffleSplit does this: use a K-fold splitter, or cv='bootstrap:<k>' for bagging)"
        )


def make_units(experiment: Experiment, table, budget: Budget, class_names=()) -> list[Unit]:
    folds = make_folds(experiment, table, class_names)
    return [
        Unit(fold, seed, train_idx, val_idx)
        for seed in experiment.training_seeds(budget)
        for fold, (train_idx, val_idx) in enumerate(folds)
    ]


def budgeted_schedule(experiment: Experiment, budget: Budget) -> tuple[int, int]:
    """(epochs, batch size) as the budget caps the spec's."""
    return (
        min(experiment.epochs, budget.max_epochs or experiment.epochs),
        min(experiment.batch_size, budget.max_batch_size or experiment.batch_size),
    )


def train_config(
    experiment: Experiment, budget: Budget, labels: np.ndarray, num_classes: int, device: str, seed: int, metric: str
) -> TrainConfig:
    loss_kw = dict(experiment.loss_kw)
    if experiment.class_weights == "balanced":
        loss_kw["weight"] = balanced_class_weights(labels, num_classes)
    epochs, batch_size = budgeted_schedule(experiment, budget)
    if "auto" in (experiment.precision, experiment.channels_last, experiment.compile):
        raise ConfigError(
            f"{experiment.name}: its execution path is still 'auto'; train it through runner.run "
            "(runner.plan measures the fastest path first) or fix precision, channels_last and compile"
        )
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=experiment.lr,
        optimizer=experiment.optimizer,
        optimizer_kw=dict(experiment.optimizer_kw),
        weight_decay=experiment.weight_decay,
        scheduler=experiment.scheduler,
        warmup_epochs=experiment.warmup_epochs,
        clip_grad=experiment.clip_grad,
        loss=experiment.loss,
        loss_kw=loss_kw,
        transfer=experiment.transfer,
        mixup=experiment.mixup,
        cutmix=experiment.cutmix,
        ema_decay=experiment.ema_decay,
        amp=None if experiment.precision == "fp32" else experiment.precision,
        channels_last=bool(experiment.channels_last),
        compile=bool(experiment.compile),
        monitor="macro_f1",
        keep="last",
        metrics=scored_metrics(metric),
        device=device,
        seed=seed,
    )


def predict_probs(model, dataset, experiment: Experiment, device: str) -> np.ndarray:
    if experiment.tta:
        return tta_predict(model, dataset, experiment.tta, device=device)
    return predict(model, dataset, device=device)


def run_fold(
    experiment: Experiment,
    data: PreparedData,
    unit: Unit,
    budget: Budget,
    device: str = "cpu",
    checkpoint_dir=None,
    progress_file=None,
    log=None,
    listeners: list[Callback] | None = None,
) -> UnitOutput:
    """Train one unit; return its output (val rows and probabilities, eval probabilities, history).

    The model kept is the last epoch's (a fixed schedule): choosing the epoch on
    the validation rows would bias the OOF score they give. `listeners` are callbacks that watch the
    training without being part of the spec (a search's pruning): they do not change the numbers."""
    check_disjoint(data.table, unit.train_idx, unit.val_idx, where=f"{experiment.name} {unit.label}")
    experiment.register_objects()  # in a Ray worker, the spec's objects are not registered yet
    seed_everything(unit.torch_seed)
    labels = data.table["label"].to_numpy()
    size = data.images.shape[1:3]
    model = create_model(
        experiment.model,
        data.num_classes,
        in_chans=data.images.shape[3],
        input_size=size,
        pretrained=experiment.pretrained,
        **experiment.model_kw,
    )
    augmentation = create_augmentation(experiment.augmentation, size, experiment.aug_backend, seed=unit.torch_seed)
    train_ds = CachedDataset(data.images[unit.train_idx], labels[unit.train_idx], augmentation, rows=unit.train_idx)
    val_ds = CachedDataset(data.images[unit.val_idx], labels[unit.val_idx], rows=unit.val_idx)
    cfg = train_config(
        experiment, budget, labels[unit.train_idx], data.num_classes, device, unit.torch_seed, metric=data.metric
    )
    callbacks = [copy.deepcopy(callback) for callback in experiment.objects.get("callbacks", ())] + (listeners or [])
    try:
        fitted = fit(
            model,
            train_ds,
            val_ds,
            cfg,
            checkpoint_dir=checkpoint_dir,
            progress_file=progress_file,
            log=log,
            callbacks=callbacks,
        )
    except ConfigError as exc:  # a setting that cannot train on this unit: say which experiment and unit
        raise ConfigError(f"{experiment.name} {unit.label}: {exc}") from None
    val_probs = predict_probs(fitted.model, val_ds, experiment, device)
    # the train side of the generalisation gap: unaugmented train rows, as many as val rows
    distinct_train = np.unique(unit.train_idx)
    gap_rows = np.random.default_rng(unit.torch_seed).choice(
        distinct_train, size=min(len(distinct_train), len(unit.val_idx)), replace=False
    )
    train_probs = predict(fitted.model, CachedDataset(data.images[gap_rows], labels[gap_rows]), device=device)
    eval_probs = (
        predict_probs(fitted.model, CachedDataset(data.eval_images), experiment, device)
        if data.eval_images is not None
        else np.zeros((0, data.num_classes), np.float32)
    )
    return UnitOutput(
        fold=unit.fold,
        seed=unit.seed,
        val_index=np.asarray(unit.val_idx),
        val_probs=val_probs,
        eval_probs=eval_probs,
        val_metrics=compute_metrics(labels[unit.val_idx], val_probs, scored_metrics(data.metric)),
        train_metrics=compute_metrics(labels[gap_rows], train_probs, scored_metrics(data.metric)),
        history=fitted.history,
        kept_epoch=fitted.kept_epoch,
        applied={"epochs": cfg.epochs, "batch_size": cfg.batch_size, "train_rows": len(unit.train_idx)},
        seconds=float(sum(row["seconds"] for row in fitted.history)),
    )


# --- pooling ----------------------------------------------------------------------------
def pool_out_of_bag(outputs: list[UnitOutput], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean OOB probabilities of every row scored by at least one member."""
    total = np.zeros((n, outputs[0].val_probs.shape[1]))
    count = np.zeros(n)
    for o in outputs:
        total[o.val_index] += o.val_probs
        count[o.val_index] += 1
    index = np.flatnonzero(count)
    return index, total[index] / count[index, None]


def pool_folds(experiment: Experiment, outputs: list[UnitOutput], n: int) -> tuple[np.ndarray, np.ndarray]:
    """One seed's folds -> (OOF row index, probabilities): as the scheme predicts rows (CvScheme.predicts),
    each predicted row once, or out of bag its predictions averaged."""
    predicts = cv_entry(experiment.cv_scheme()[0]).predicts
    if predicts == "out_of_bag":
        return pool_out_of_bag(outputs, n)
    index = np.concatenate([o.val_index for o in outputs])  # disjoint: make_folds refused overlapping folds
    if predicts == "once" and len(index) != n:
        raise DataError(f"{experiment.name}: {n - len(index)} train rows have no OOF prediction")
    order = np.argsort(index)
    return index[order], np.concatenate([o.val_probs for o in outputs])[order]


def assemble(
    experiment: Experiment,
    data: PreparedData,
    budget: Budget,
    key: str,
    outputs: list[UnitOutput],
    seconds: float,
    unit_key: str = "",
    execution: dict | None = None,
) -> Result:
    """Pool unit outputs: per seed, the OOF rows and the mean eval probabilities over folds."""
    seeds = sorted({o.seed for o in outputs})
    pooled = [pool_folds(experiment, [o for o in outputs if o.seed == s], len(data.table)) for s in seeds]
    index = pooled[0][0]  # every seed shares the split, so the same rows
    seed_oof = np.stack([probs for _, probs in pooled]).astype(np.float32)
    seed_eval = np.stack([np.mean([o.eval_probs for o in outputs if o.seed == s], axis=0) for s in seeds]).astype(
        np.float32
    )
    folds = [o.record() for o in outputs]
    groups = data.table["group"].to_numpy()[index] if "group" in data.table else None
    return Result(
        name=experiment.name,
        spec=experiment.to_dict(),
        budget=budget.name,
        key=key,
        class_names=list(data.class_names),
        metric=data.metric,
        y=data.table["label"].to_numpy()[index],
        oof_index=index,
        oof_probs=seed_oof.mean(0),
        eval_ids=data.eval_ids,
        eval_probs=seed_eval.mean(0),
        folds=folds,
        seconds=seconds,
        seed_oof_probs=seed_oof,
        seed_eval_probs=seed_eval,
        groups=groups,
        provenance=Provenance(
            data_fingerprint=data.fingerprint,
            competition_digest=data.competition_digest,
            skipped=data.skipped,
            train_rows=len(data.table),
            unit_key=unit_key,
            execution=execution or {},
        ),
    )
