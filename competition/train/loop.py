"""fit / evaluate / predict: the training loop, readable top to bottom."""

from __future__ import annotations

import copy
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import Dataset, TensorDataset
from tqdm.auto import tqdm

from ..augment.batch import mix_batch
from ..data.dataset import CachedDataset, check_training_rows, make_loader
from ..errors import CheckpointError, CompetitionError, ConfigError
from ..files import atomic_write
from ..memory import keep_freed_memory
from ..metrics import compute_metrics, higher_is_better
from ..registry import describe
from ..models.classifier import Classifier
from ..models.transfer import apply_transfer
from .losses import create_criterion, loss_of
from .optim import create_optimizer, create_scheduler, cycles_momentum, plateau_figure
from .seed import seed_everything


class TrainingDiverged(CompetitionError, FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 256
    lr: float = 3e-3
    optimizer: str = "adamw"
    optimizer_kw: dict = field(default_factory=dict)  # create_optimizer's options (norm_lr_mult, lookahead_steps...)
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"  # the spec's default (Experiment.scheduler)
    warmup_epochs: float | None = None  # None: the schedule's own (SCHEDULE_WARMUP_EPOCHS)
    loss: str = "cross_entropy"
    loss_kw: dict = field(default_factory=dict)
    transfer: str = "scratch"
    backbone_lr_mult: float = 0.1
    mixup: float = 0.0  # Beta(alpha, alpha) for mixup; 0 = off
    cutmix: float = 0.0
    clip_grad: float | None = None
    amp: str | None = None  # "bf16" or "fp16" on CUDA; "bf16" on a CPU that supports it
    channels_last: bool = False
    compile: bool = False  # torch.compile the training forward (the weights stay the model's)
    ema_decay: float | None = None
    early_stopping: int | None = None  # patience in epochs on `monitor`
    keep: str = "last"  # "last" (a fixed schedule) or "best" (the best epoch by monitor on val_ds)
    monitor: str = "macro_f1"
    metrics: tuple[str, ...] = ("accuracy", "macro_f1")
    max_steps_per_epoch: int | None = None
    eval_batch_size: int = 512
    num_workers: int = 0
    device: str = "cpu"
    seed: int = 0


@dataclass
class FitResult:
    model: nn.Module  # the kept epoch's weights (the EMA's, when EMA is on)
    history: list[dict]
    kept_epoch: int  # the last epoch, or the best by cfg.monitor with keep="best"
    kept_score: float  # its validation score (cfg.monitor)


# --- helpers the loop calls -----------------------------------------------------------
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # TrainConfig.amp -> autocast dtype
# What fit writes to its checkpoint_dir: the weights it kept, at the end (the store keeps them with the
# unit), and after every epoch the state it resumes from
KEPT_WEIGHTS = "kept.pt"
RESUME_CHECKPOINT = "last.pt"


def autocast_for(cfg: TrainConfig):
    if cfg.amp is None:
        return nullcontext()
    device_type = torch.device(cfg.device).type
    dtype = AMP_DTYPES.get(cfg.amp)
    if dtype is None:
        raise ConfigError(f"amp={cfg.amp!r}: use 'bf16', 'fp16' or None")
    if device_type == "cpu" and (dtype != torch.bfloat16 or not torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        raise ConfigError(f"amp={cfg.amp!r} is not supported on this CPU; use amp=None (or 'bf16' on a CPU with bf16)")
    return torch.autocast(device_type, dtype=dtype)


def to_device(x: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    x = x.to(cfg.device, non_blocking=True)
    if cfg.channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def save_atomic(obj, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_resume_state(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:  # weights_only: tensors and plain containers only, so a planted pickle payload cannot run
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged or code-carrying file: say which and what to do
        raise CheckpointError(
            f"{path}: corrupt or unsafe checkpoint, cannot resume ({type(exc).__name__}); delete it to start over"
        ) from exc
    if not isinstance(state, dict) or not {"model", "optimizer", "scheduler", "epoch"} <= set(state):
        raise CheckpointError(f"{path}: not a resume checkpoint of this loop; delete it to start over")
    return state


def is_better(score: float, best: float, metric: str) -> bool:
    return score > best if higher_is_better(metric) else score < best


class HeadOnly(nn.Module):
    """The head of a Classifier, trained on cached backbone features."""

    def __init__(self, model: Classifier):
        super().__init__()
        self.model = model

    def forward(self, features):
        return self.model.forward_head(features)


@torch.inference_mode()
def extract_features(model: Classifier, dataset: Dataset, cfg: TrainConfig) -> torch.Tensor:
    model.eval()
    plain = CachedDataset(dataset.images, None) if isinstance(dataset, CachedDataset) else dataset
    loader = make_loader(plain, cfg.eval_batch_size)
    return torch.cat([model.forward_features(to_device(x, cfg)).float().cpu() for x, _ in loader])


def feature_datasets(model: Classifier, train_ds, val_ds, cfg):
    """Backbone features computed once, so each epoch costs only the head."""
    train = TensorDataset(extract_features(model, train_ds, cfg), dataset_labels(train_ds))
    val = TensorDataset(extract_features(model, val_ds, cfg), dataset_labels(val_ds)) if val_ds is not None else None
    return train, val


def dataset_labels(dataset) -> torch.Tensor:
    if not isinstance(dataset, CachedDataset):
        return torch.tensor([int(y) for _, y in dataset])
    if dataset.labels is None:
        raise ConfigError("a dataset without labels cannot be trained or validated on; give CachedDataset its labels")
    return dataset.labels


def set_epoch_seed(dataset, seed: int, epoch: int) -> None:
    """Reseed the augmentation for an epoch, and tell it the epoch when it depends on it (alternating flip)."""
    transform: Any = getattr(dataset, "transform", None)
    if hasattr(transform, "set_random_seed"):
        transform.set_random_seed(seed)
    if hasattr(transform, "set_epoch"):
        transform.set_epoch(epoch)


# --- evaluation and prediction --------------------------------------------------------
@torch.inference_mode()
def evaluate(model: nn.Module, loader, criterion: nn.Module, cfg: TrainConfig) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss, class probabilities and labels over a loader."""
    model.eval()
    losses, probs, labels = [], [], []
    with autocast_for(cfg):
        for x, y in loader:
            logits = model(to_device(x, cfg)).float()
            y = y.to(cfg.device)
            losses.append(loss_of(criterion, logits, y, cfg.loss).item() * len(y))
            probs.append(logits.softmax(1).cpu())
            labels.append(y.cpu())
    y = torch.cat(labels).numpy()
    return sum(losses) / len(y), torch.cat(probs).numpy(), y


@torch.inference_mode()
def predict(model: nn.Module, dataset: Dataset, batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """Class probabilities (N, C) for a dataset, in dataset order."""
    model.eval()
    model.to(device)
    loader = make_loader(dataset, batch_size)
    return torch.cat([model(x.to(device)).float().softmax(1).cpu() for x, _ in loader]).numpy()


# --- the loop, in parts ---------------------------------------------------------------------
@dataclass
class TrainingState:
    """What the loop carries from epoch to epoch, and what a checkpoint saves."""

    net: nn.Module  # what trains: the model, or its head on cached features
    optimizer: torch.optim.Optimizer
    scheduler: Any  # competition.train.schedulers: .interval ("step" or "epoch") and .step()
    ema: Any  # torch.optim.swa_utils.AveragedModel, or None
    scaler: torch.amp.GradScaler | None
    history: list[dict] = field(default_factory=list)
    step_net: Callable[..., torch.Tensor] | None = None  # the training forward: net, or net compiled (cfg.compile)
    best_state: dict | None = None
    best_score: float = -np.inf
    best_epoch: int = -1
    stale: int = 0
    next_epoch: int = 0

    @property
    def eval_net(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.net


def save_checkpoint(state: TrainingState, cfg: TrainConfig, path: Path) -> None:
    save_atomic(
        {
            "model": state.net.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "ema": state.ema.state_dict() if state.ema else None,
            "history": state.history,
            "best_state": state.best_state,
            "best_score": float(state.best_score),
            "best_epoch": state.best_epoch,
            "stale": state.stale,
            "epoch": state.next_epoch - 1,
            "config": asdict(cfg),
        },
        path,
    )


def resume(state: TrainingState, path: Path) -> bool:
    """Load the resume checkpoint into `state`; False when there is none."""
    saved = load_resume_state(path)
    if saved is None:
        return False
    try:
        state.net.load_state_dict(saved["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the resume checkpoint belongs to another model ({str(exc).splitlines()[0]}); "
            "delete it to start over"
        ) from exc
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    if state.ema is not None:
        state.ema.load_state_dict(saved["ema"])
    state.history, state.best_state, state.best_score = saved["history"], saved["best_state"], saved["best_score"]
    state.best_epoch, state.stale, state.next_epoch = saved["best_epoch"], saved["stale"], saved["epoch"] + 1
    return True


def train_one_epoch(
    state: TrainingState,
    train_ds,
    criterion,
    cfg: TrainConfig,
    epoch: int,
    steps: int,
    num_classes: int,
    progress_file=None,
    callbacks: Sequence[Callback] = (),
) -> dict:
    """One pass over the training rows: the steps every reader expects, in order."""
    epoch_seed = cfg.seed * 10_007 + epoch
    set_epoch_seed(train_ds, epoch_seed, epoch)
    mix_rng = np.random.default_rng(epoch_seed)
    loader = make_loader(
        train_ds, cfg.batch_size, shuffle=True, seed=epoch_seed, drop_last=True, num_workers=cfg.num_workers
    )
    bar = tqdm(
        loader,
        total=steps,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        ascii=True,
        mininterval=2.0,
        file=progress_file or sys.stderr,
        disable=progress_file is False,
    )
    net, optimizer = state.net if state.step_net is None else state.step_net, state.optimizer
    state.net.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for step, (x, y) in enumerate(bar):
        if step >= steps:
            break
        x, y = to_device(x, cfg), y.to(cfg.device)
        targets = y
        if (cfg.mixup or cfg.cutmix) and cfg.transfer != "feature-extract":
            x, targets = mix_batch(x, y, num_classes, mix_rng, cfg.mixup, cfg.cutmix)
        with autocast_for(cfg):
            logits = net(x)
            loss = loss_of(criterion, logits.float(), targets, cfg.loss)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                "lower the learning rate, clip the gradients (Experiment(clip_grad=1.0)), "
                "or check the inputs"
            )
        optimizer.zero_grad(set_to_none=True)
        backward_and_step(state, loss, cfg)
        if state.scheduler.interval == "step":
            state.scheduler.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        for on_step_end in hooks(callbacks, "on_step_end"):
            on_step_end(state, epoch, step, steps, loss_sum / seen)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
    bar.close()
    return {
        "epoch": epoch + 1,
        "lr": optimizer.param_groups[0]["lr"],
        "train_loss": loss_sum / max(seen, 1),
        "train_accuracy": correct / max(seen, 1),
    }


def backward_and_step(state: TrainingState, loss: torch.Tensor, cfg: TrainConfig) -> None:
    """loss.backward() and optimizer.step(), with fp16 scaling, clipping and EMA when configured."""
    scaler, optimizer = state.scaler, state.optimizer
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if cfg.clip_grad:
        nn.utils.clip_grad_norm_(state.net.parameters(), cfg.clip_grad)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if state.ema is not None:
        state.ema.update_parameters(state.net)


def validate_epoch(state: TrainingState, val_ds, criterion, cfg: TrainConfig) -> dict:
    if val_ds is None:
        return {}
    val_loss, probs, labels = evaluate(state.eval_net, make_loader(val_ds, cfg.eval_batch_size), criterion, cfg)
    return {"val_loss": val_loss, **{f"val_{k}": v for k, v in compute_metrics(labels, probs, cfg.metrics).items()}}


def end_epoch(state: TrainingState, row: dict, cfg: TrainConfig) -> float:
    """Step an epoch scheduler, record the row, track the best epoch; returns the monitored score."""
    score = row.get(f"val_{cfg.monitor}", -row["train_loss"])
    if state.scheduler.interval == "epoch":
        if isinstance(state.scheduler, ReduceLROnPlateau):
            state.scheduler.step(plateau_figure(state.scheduler, row, score))
        else:
            state.scheduler.step()
    state.history.append(row)
    if is_better(score, state.best_score, cfg.monitor):
        state.best_score, state.best_epoch, state.stale = score, row["epoch"], 0
        if cfg.keep == "best":
            state.best_state = copy.deepcopy(state.eval_net.state_dict())
    else:
        state.stale += 1
    return score


def hooks(callbacks: Sequence, name: str) -> list[Callable]:
    """The callbacks' `name` methods. One's own callback need not subclass Callback: one with on_epoch_end
    alone is accepted by the spec (and stopped training with an AttributeError on its first step)."""
    return [hook for hook in (getattr(callback, name, None) for callback in callbacks) if hook is not None]


def asks_to_stop(hook: Callable, answer) -> bool:
    """on_epoch_end's answer: True stops training, False or None goes on. Anything else was taken by its truth, so a
    callback that returned the row it logged, or a score, stopped every run after its first epoch without a word."""
    if answer is None or isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    owner = type(getattr(hook, "__self__", hook)).__qualname__
    raise ConfigError(
        f"callback {owner}.on_epoch_end returned {type(answer).__name__} ({describe(answer, 60)}); it returns True to "
        "stop training, False or None to go on"
    )


class Callback:
    """A hook for what is optional in fit. on_epoch_end may stop training by returning True.
    (EMA is not a callback: it decides which weights are validated, checkpointed and kept.)"""

    def on_step_end(self, state: TrainingState, epoch: int, step: int, steps: int, loss: float) -> None:
        pass

    def on_epoch_end(self, state: TrainingState, row: dict, cfg: TrainConfig) -> bool:
        return False


class LogEpoch(Callback):
    """One line per epoch (every figure of the history row and the unit's ETA), and a line at least
    once a minute inside a long epoch, so a log that must not go silent does not."""

    def __init__(self, log, heartbeat_seconds: float = 60.0):
        self.log, self.heartbeat = log, heartbeat_seconds
        self.last = time.perf_counter()

    def on_step_end(self, state: TrainingState, epoch: int, step: int, steps: int, loss: float) -> None:
        if time.perf_counter() - self.last > self.heartbeat:
            self.last = time.perf_counter()
            self.log(f"epoch={epoch + 1} step={step + 1}/{steps} train_loss={loss:.4g}")

    def on_epoch_end(self, state: TrainingState, row: dict, cfg: TrainConfig) -> bool:
        self.last = time.perf_counter()
        seconds = [r["seconds"] for r in state.history]
        eta = (cfg.epochs - row["epoch"]) * sum(seconds) / len(seconds)
        self.log(
            " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            + f" eta={eta:.0f}s"
        )
        return False


class EarlyStopping(Callback):
    """Stop after `patience` epochs without a gain in cfg.monitor on the validation rows."""

    def __init__(self, patience: int, log):
        self.patience, self.log = patience, log

    def on_epoch_end(self, state: TrainingState, row: dict, cfg: TrainConfig) -> bool:
        if state.stale >= self.patience:
            self.log(f"early stop after epoch {row['epoch']}: no {cfg.monitor} gain for {state.stale} epochs")
            return True
        return False


def start_training(model: Classifier, train_ds, val_ds, cfg: TrainConfig):
    """Transfer mode, device, optimizer, scheduler, EMA and scaler: everything before epoch 1."""
    if cfg.keep not in ("last", "best"):
        raise ConfigError(f"keep={cfg.keep!r}: use 'last' (a fixed schedule) or 'best' (the best epoch on val_ds)")
    groups = apply_transfer(model, cfg.transfer, cfg.lr, cfg.backbone_lr_mult)
    model.to(cfg.device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if isinstance(train_ds, CachedDataset) and cfg.transfer != "feature-extract":
        model.fit_to_images(train_ds.images)  # before the optimizer: a data-set layer may be frozen
    if cfg.transfer == "feature-extract":
        train_ds, val_ds = feature_datasets(model, train_ds, val_ds, cfg)
        net = HeadOnly(model)
    steps = len(make_loader(train_ds, cfg.batch_size, drop_last=True))
    steps = min(steps, cfg.max_steps_per_epoch or steps)
    optimizer = create_optimizer(cfg.optimizer, groups, cfg.lr, cfg.weight_decay, **cfg.optimizer_kw)
    scheduler = create_scheduler(
        cfg.scheduler,
        optimizer,
        cfg.epochs,
        steps,
        cfg.warmup_epochs,
        cycle_momentum=cycles_momentum(cfg.optimizer, cfg.optimizer_kw),
    )
    ema = (
        torch.optim.swa_utils.AveragedModel(
            net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
        )
        if cfg.ema_decay
        else None
    )
    scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" and "cuda" in cfg.device else None
    state = TrainingState(net, optimizer, scheduler, ema, scaler, step_net=torch.compile(net) if cfg.compile else None)
    if not higher_is_better(cfg.monitor):
        state.best_score = np.inf
    return state, train_ds, val_ds, steps


def finish(model: Classifier, state: TrainingState, cfg: TrainConfig, checkpoint_dir) -> FitResult:
    """Keep the last (or best) epoch's weights, EMA's when EMA is on, and unfreeze."""
    if cfg.keep == "best" and state.best_state is not None:
        state.net.load_state_dict(state.best_state)
        kept_epoch, kept_score = state.best_epoch, state.best_score
    else:
        if state.ema is not None:
            state.net.load_state_dict(state.ema.module.state_dict())
        kept_epoch = len(state.history)
        kept_score = state.history[-1].get(f"val_{cfg.monitor}", float("nan")) if state.history else float("nan")
    model.unfreeze()
    if checkpoint_dir:
        save_atomic(
            {"model": model.state_dict(), "epoch": kept_epoch, "score": kept_score}, Path(checkpoint_dir) / KEPT_WEIGHTS
        )
    return FitResult(model=model, history=state.history, kept_epoch=kept_epoch, kept_score=float(kept_score))


def check_batch_fits(train_rows: int, batch_size: int) -> None:
    """Before any work: full batches only (drop_last), so a batch larger than the rows takes no step."""
    if batch_size > train_rows:
        raise ConfigError(
            f"batch_size={batch_size} is larger than the {train_rows} training rows, so an epoch "
            "would take no step; lower batch_size"
        )


def fit(
    model: Classifier,
    train_ds: Dataset,
    val_ds: Dataset | None,
    cfg: TrainConfig,
    checkpoint_dir: str | Path | None = None,
    progress_file=None,
    log=None,
    callbacks: list[Callback] | None = None,
) -> FitResult:
    """Train `model` on train_ds, validating on val_ds after each epoch.

    Keeps the last epoch (cfg.keep="last") or the best by cfg.monitor ("best"). With a checkpoint_dir, writes
    RESUME_CHECKPOINT there each epoch and resumes from it when present, and KEPT_WEIGHTS at the end.
    """
    check_training_rows(train_ds, val_ds)  # where training happens, whatever built the datasets
    check_batch_fits(len(train_ds), cfg.batch_size)  # type: ignore[arg-type]  # map-style: it has a length
    keep_freed_memory()  # every step as fast as the last, whatever this process freed before
    seed_everything(cfg.seed)
    log = log or (lambda message: None)
    callbacks = [
        LogEpoch(log),
        *([EarlyStopping(cfg.early_stopping, log)] if cfg.early_stopping else []),
        *(callbacks or []),
    ]
    state, train_ds, val_ds, steps = start_training(model, train_ds, val_ds, cfg)
    criterion = create_criterion(cfg.loss, **cfg.loss_kw).to(cfg.device)
    last_path = Path(checkpoint_dir) / RESUME_CHECKPOINT if checkpoint_dir else None
    if last_path is not None:
        last_path.parent.mkdir(parents=True, exist_ok=True)
        if resume(state, last_path):
            log(f"resumed from {last_path} after epoch {state.next_epoch}")

    for epoch in range(state.next_epoch, cfg.epochs):
        started = time.perf_counter()
        row = train_one_epoch(
            state, train_ds, criterion, cfg, epoch, steps, model.num_classes, progress_file, callbacks
        )
        row.update(validate_epoch(state, val_ds, criterion, cfg))
        row["seconds"] = time.perf_counter() - started
        row["images_per_second"] = steps * cfg.batch_size / row["seconds"]
        end_epoch(state, row, cfg)
        state.next_epoch = epoch + 1
        if last_path is not None:
            save_checkpoint(state, cfg, last_path)
        if any([asks_to_stop(hook, hook(state, row, cfg)) for hook in hooks(callbacks, "on_epoch_end")]):  # all see it
            break
    return finish(model, state, cfg, checkpoint_dir)
