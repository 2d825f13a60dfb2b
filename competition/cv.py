"""Cross-validation: one model per fold -> out-of-fold (OOF) predictions.

`run_fold` is the unit of work (spec, fold, seed -> an OOF artifact); folds
share nothing but the prepared data, so they can run anywhere, in any order,
and each is stored on its own.
"""
from __future__ import annotations

import numpy as np

from .data import CachedDataset, make_splits
from .errors import DataError
from .experiment import EVAL_METRICS, Budget, Experiment, PreparedData, Result
from .metrics import compute_metrics
from .models import create_model
from .train import TrainConfig, balanced_class_weights, fit, predict, seed_everything
from .tta import tta_predict


def bootstrap_folds(n: int, members: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bagging: each member trains on a bootstrap resample and is scored out of bag."""
    folds = []
    for member in range(members):
        train = np.random.default_rng([seed, member]).integers(0, n, size=n)
        folds.append((np.sort(train), np.setdiff1d(np.arange(n), train)))
    return folds


def make_folds(experiment: Experiment, table) -> list[tuple[np.ndarray, np.ndarray]]:
    scheme, k = experiment.cv_scheme()
    if scheme == "bootstrap":
        return bootstrap_folds(len(table), k, experiment.seed)
    return make_splits(table, scheme, n_splits=max(k, 2), seed=experiment.seed)


def pool_out_of_bag(outputs: list[dict], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean OOB probabilities of every row scored by at least one member."""
    total = np.zeros((n, outputs[0]["val_probs"].shape[1]))
    count = np.zeros(n)
    for o in outputs:
        total[o["val_index"]] += o["val_probs"]
        count[o["val_index"]] += 1
    index = np.flatnonzero(count)
    return index, total[index] / count[index, None]


def train_config(experiment: Experiment, budget: Budget, labels: np.ndarray, num_classes: int, device: str,
                 seed: int) -> TrainConfig:
    loss_kw = dict(experiment.loss_kw)
    if experiment.class_weights == "balanced":
        loss_kw["weight"] = balanced_class_weights(labels, num_classes)
    epochs = min(experiment.epochs, budget.max_epochs or experiment.epochs)
    batch_size = min(experiment.batch_size, budget.max_batch_size or experiment.batch_size)
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=experiment.lr,
                       optimizer=experiment.optimizer, weight_decay=experiment.weight_decay,
                       scheduler=experiment.scheduler, loss=experiment.loss, loss_kw=loss_kw,
                       transfer=experiment.transfer, mixup=experiment.mixup, cutmix=experiment.cutmix,
                       ema_decay=experiment.ema_decay, channels_last=True, monitor="macro_f1",
                       metrics=EVAL_METRICS, device=device, seed=seed)


def predict_probs(model, dataset, experiment: Experiment, device: str) -> np.ndarray:
    if experiment.tta:
        return tta_predict(model, dataset, experiment.tta, device=device)
    return predict(model, dataset, device=device)


def run_fold(experiment: Experiment, data: PreparedData, fold: int, train_idx: np.ndarray, val_idx: np.ndarray,
             budget: Budget, device: str = "cpu", checkpoint_dir=None, progress_file=None, log=None) -> dict:
    """Train one fold; return its OOF artifact (val rows and probabilities, eval probabilities, history)."""
    from .augment import create_augmentation

    seed = experiment.seed * 100 + fold
    seed_everything(seed)
    task = data.competition.task
    labels = data.table["label"].to_numpy()
    size = data.images.shape[1:3]
    model = create_model(experiment.model, task.num_classes, in_chans=data.images.shape[3],
                         pretrained=experiment.pretrained, **experiment.model_kw)
    augmentation = create_augmentation(experiment.augmentation, size, experiment.aug_backend, seed=seed)
    train_ds = CachedDataset(data.images[train_idx], labels[train_idx], augmentation)
    val_ds = CachedDataset(data.images[val_idx], labels[val_idx])
    cfg = train_config(experiment, budget, labels[train_idx], task.num_classes, device, seed)
    fitted = fit(model, train_ds, val_ds, cfg, checkpoint_dir=checkpoint_dir, progress_file=progress_file, log=log)
    val_probs = predict_probs(fitted.model, val_ds, experiment, device)
    # the train side of the generalisation gap: unaugmented train rows, as many as val rows
    gap_rows = np.random.default_rng(seed).choice(train_idx, size=min(len(train_idx), len(val_idx)), replace=False)
    train_probs = predict(fitted.model, CachedDataset(data.images[gap_rows], labels[gap_rows]), device=device)
    eval_probs = (predict_probs(fitted.model, CachedDataset(data.eval_images), experiment, device)
                  if data.eval_images is not None else np.zeros((0, task.num_classes), np.float32))
    return {"fold": fold, "val_index": np.asarray(val_idx), "val_probs": val_probs, "eval_probs": eval_probs,
            "val_metrics": compute_metrics(labels[val_idx], val_probs, EVAL_METRICS),
            "train_metrics": compute_metrics(labels[gap_rows], train_probs, EVAL_METRICS),
            "history": fitted.history, "best_epoch": fitted.best_epoch,
            "seconds": float(sum(row["seconds"] for row in fitted.history))}


def fold_through_store(experiment, data, fold, train_idx, val_idx, budget, device, store, key, rerun,
                       progress_file, log) -> dict:
    if store is None:
        return run_fold(experiment, data, fold, train_idx, val_idx, budget, device, None, progress_file, log)
    with store.lock(f"{key}-fold{fold}"):
        if not rerun and (hit := store.load_fold(key, fold)) is not None:
            return hit
        checkpoint_dir = store.scratch_dir(key, fold)
        output = run_fold(experiment, data, fold, train_idx, val_idx, budget, device, checkpoint_dir,
                          progress_file, log)
        store.save_fold(key, fold, output)
        return output


def assemble(experiment: Experiment, data: PreparedData, budget: Budget, key: str, outputs: list[dict],
             seconds: float) -> Result:
    """Pool fold outputs: OOF rows (each predicted exactly once) and the mean eval probabilities."""
    scheme, _ = experiment.cv_scheme()
    if scheme == "bootstrap":
        index, probs = pool_out_of_bag(outputs, len(data.table))
    else:
        index = np.concatenate([o["val_index"] for o in outputs])
        if len(np.unique(index)) != len(index):
            raise DataError(f"{experiment.name}: a train row was predicted by more than one fold; the folds overlap")
        if scheme != "holdout" and len(index) != len(data.table):
            raise DataError(f"{experiment.name}: {len(data.table) - len(index)} train rows have no OOF prediction")
        order = np.argsort(index)
        probs = np.concatenate([o["val_probs"] for o in outputs])[order]
        index = index[order]
    folds = [{k: v for k, v in o.items() if k not in ("val_index", "val_probs", "eval_probs")} for o in outputs]
    return Result(name=experiment.name, spec=experiment.spec(), budget=budget.name, key=key,
                  class_names=list(data.competition.task.class_names), metric=data.competition.task.metric,
                  y=data.table["label"].to_numpy()[index], oof_index=index, oof_probs=probs,
                  eval_ids=data.competition.eval["image_id"].to_numpy(),
                  eval_probs=np.mean([o["eval_probs"] for o in outputs], axis=0),
                  folds=folds, seconds=seconds, data_fingerprint=data.fingerprint, train_rows=len(data.table))
