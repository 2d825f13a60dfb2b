"""Layer 1: the value types. An Experiment (what to train), a Budget (how far to
scale it) and a Result (what a run produced), with their serialisation.

Nothing here trains or reads data: `competition.runner.run(experiment)` does.
An Experiment checks its numbers and its names when it is constructed, so a
bad spec fails at pytest collection, before any image is cached.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import numbers
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePath
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from .errors import ConfigError, did_you_mean
from .files import check_folder_name, checkpoint_digest, is_checkpoint
from .metrics import compute_metrics, get_metric
from .registry import (
    AUGMENTATION_STEPS,
    AUGMENTATIONS,
    CALLBACKS,
    CROPS,
    CV_SCHEMES,
    LOSSES,
    METRICS,
    MODELS,
    OPTIMIZERS,
    SCHEDULE_WARMUP_EPOCHS,
    SCHEDULERS,
    TRANSFER_MODES,
    TTA_VIEWS,
    Registry,
    SpecObject,
    check_loss_options,
    check_optimizer_options,
    check_scheduler_warmup,
    describe,
    is_own_code,
    register_object,
    source_digest,
)

EVAL_METRICS = ("accuracy", "macro_f1")


def scored_metrics(metric: str) -> tuple[str, ...]:
    """What every fold, epoch and eval split is scored on: EVAL_METRICS and the competition's own metric. Without
    the latter, a competition scored by ROC-AUC, log loss or one's own metric had no per-fold score: its gaps, run
    report and store listing failed with a KeyError, and `submit` found no readable result."""
    return tuple(dict.fromkeys((*EVAL_METRICS, metric)))


AUTO_SEEDS = 3  # the first round of seeds='auto': two seeds leave a t interval with one degree of freedom
ROWS = ("all", "search")  # the train rows an experiment trains on (see Experiment.rows)
EXECUTION_DEFAULTS = {"precision": "fp32", "channels_last": True, "compile": False}
# Fields added after runs were stored: keyed only when changed, so those runs keep their keys
KEYED_WHEN_CHANGED = {**EXECUTION_DEFAULTS, "warmup_epochs": None, "clip_grad": None}
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
CLAIM_MAX_SEEDS = 7  # the experiments' ceiling for a claim decided in rounds: 3, 5, 7 paired seeds per side


def is_splitter(value) -> bool:
    return callable(getattr(value, "split", None)) and callable(getattr(value, "get_n_splits", None))


# Experiment fields that take an object in place of a name: (its registry, the check of its shape)
OBJECT_FIELDS: dict[str, tuple[Registry, Callable[[Any], bool]]] = {
    "model": (MODELS, callable),
    "augmentation": (AUGMENTATIONS, callable),
    "loss": (LOSSES, callable),
    "optimizer": (OPTIMIZERS, callable),
    "scheduler": (SCHEDULERS, callable),
    "cv": (CV_SCHEMES, is_splitter),
}
OBJECT_SHAPES = {
    "model": "give a registered name (MODELS.names()), an nn.Module that maps a batch (B, C, H, W) to logits or "
    "to features (a head is added), or a callable (num_classes, in_chans, **model_kw) that returns one",
    "augmentation": "give a preset name, a tuple of (step, params), or a callable on one H x W x C uint8 image (an "
    "albumentations Compose, a torchvision v2 transform, or a function returning the image)",
    "loss": "give a registered name (LOSSES.names()), a callable (logits, targets) -> loss, an nn.Module loss, or "
    "a loss class (called with loss_kw)",
    "optimizer": "give a registered name (OPTIMIZERS.names()) or a callable (params, lr[, weight_decay]) that "
    "returns a torch.optim.Optimizer",
    "scheduler": "give a registered name (SCHEDULERS.names()) or a callable (optimizer, total_steps) that returns "
    "a scheduler stepped after every batch",
    "cv": "give 'holdout', '<scheme>:<k>' or a scikit-learn splitter (an object with split(X, y, groups) and "
    "get_n_splits(), e.g. GroupKFold(5))",
    "callbacks": "give a tuple of callbacks: objects with on_epoch_end(state, row, cfg) -> stop? and/or "
    "on_step_end(state, epoch, step, steps, loss) (competition.train.Callback)",
}


@dataclass(frozen=True)
class Budget:
    """How far to scale an experiment: smoke (CI), standard (2-core CPU), full (GPU).

    seeds: the fewest training seeds per fold at this budget (an experiment may ask more).
    """

    name: str
    max_train: int | None = None  # stratified subsample of the train split
    max_epochs: int | None = None
    max_batch_size: int | None = None  # small data needs small batches to take enough steps
    device: str = "cpu"  # "cpu", "cuda" or "auto" (cuda where one is visible)
    seeds: int = 1
    minutes: float | None = None  # a pytest session trains for at most this long; later claims are underpowered


BUDGETS = {
    # CI: each guard-model seed trains in ~20 s on 2 CPU cores
    "smoke": Budget("smoke", max_train=3000, max_epochs=5, max_batch_size=64),
    # the main job: 12,000 images, three seeds, within an hour on 2 CPU cores
    "standard": Budget("standard", max_train=12_000, seeds=3, minutes=60),
    # every image, three seeds, no time limit (a GPU, or a long CPU run)
    "full": Budget("full", device="auto", seeds=3),
}


def get_budget(name: str | Budget) -> Budget:
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        raise ConfigError(f"unknown budget {name!r}; known budgets: {list(BUDGETS)}")
    return BUDGETS[name]


def parse_cv(cv: str) -> tuple[str, int]:
    """'holdout' -> ('holdout', 1); '<scheme>:<k>' -> (scheme, k); a splitter object's name -> (name, its splits);
    'folds:<column>' -> (itself, 0: the column's values are the folds)."""
    if cv == "holdout":
        return "holdout", 1
    splitter = CV_SCHEMES.registered.get(cv)
    if isinstance(splitter, SpecObject):
        return cv, int(splitter.obj.get_n_splits())
    if cv.startswith("folds:"):  # the folds a column of train.csv assigns: how many, the data says
        CV_SCHEMES.get(cv)(cv.removeprefix("folds:"))
        return cv, 0
    scheme, _, k = cv.partition(":")
    if not k.isdigit() or int(k) < 2:
        raise ConfigError(f"cv={cv!r}: use 'holdout' or '<scheme>:<k>' with k >= 2, e.g. 'stratified:5'")
    CV_SCHEMES.check(scheme, field="cv")
    return scheme, int(k)


@dataclass(frozen=True)
class Experiment:
    """One technique to prove. `name` is its id on the leaderboard.

    seed fixes the split and the first training seed; seeds=k trains k seeds
    (seed, seed+1, ...) of every fold, each stored on its own.
    """

    name: str
    data: str = "fashion"  # a built-in name, or a competition directory (a path, or a Competition)
    model: str = "rescnn"
    model_kw: dict = field(default_factory=dict)
    pretrained: str | None = None
    transfer: str = "scratch"
    image_size: int | tuple | None = None  # a side, (height, width), or None to keep the source size
    channels: int | None = None  # None: as the images are (gray stays gray, RGB stays RGB)
    crop: str = "none"
    augmentation: str | tuple = "none"
    aug_backend: str = "albumentations"
    loss: str = "cross_entropy"
    loss_kw: dict = field(default_factory=dict)
    class_weights: str | None = None  # "balanced" sets the loss's class weights from train counts
    optimizer: str = "adamw"
    optimizer_kw: dict = field(default_factory=dict)  # the optimizer's own (sgd: momentum, nesterov; adam/adamw: betas,
    # eps), and for any: norm_lr_mult, lookahead_steps, lookahead_alpha; checked against what the optimizer takes
    lr: float = 3e-3
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"
    # the warm-up, a linear ramp to the rate; None: the schedule's own (0.5 epochs for onecycle and cosine, none
    # for step and none; onecycle warms up at least 15% of the steps)
    warmup_epochs: float | None = None
    clip_grad: float | None = None  # clip the gradients' global norm to this, or None
    epochs: int = 6
    batch_size: int = 256
    mixup: float = 0.0
    cutmix: float = 0.0
    ema_decay: float | None = None
    cv: str = "holdout"  # "holdout", "<scheme>:<k>" ("stratified:5"), "bootstrap:<members>" or "folds:<column>"
    train_fraction: float = 1.0  # use a stratified fraction of the train split
    rows: str = "all"  # "search": train on the search split; the eval set is the confirmation
    # split (data.splits.confirmation_split), as a hyperparameter search does
    tta: tuple = ()  # TTA views, e.g. ("identity", "hflip")
    seed: int = 0
    seeds: int | str = 1  # "auto": seeds in rounds until a claim decides (gates.decide_claim)
    max_seeds: int | None = None  # with seeds="auto": the most seeds per side a claim may train
    split_seed: int | None = None  # None: the split follows `seed`
    callbacks: tuple = ()  # training callbacks (competition.train.Callback objects)
    draft: bool = False  # decode JPEGs at a reduced scale when the target is that much smaller
    # the execution path (competition.execution): "auto" lets a probe on this machine choose
    precision: str = "fp32"  # "fp32", "bf16" autocast, "fp16" autocast (CUDA) or "auto"
    channels_last: bool | str = True  # memory layout of images and convolution weights, or "auto"
    compile: bool | str = False  # torch.compile the training forward, or "auto" (when it pays back)
    # the objects the spec was given in place of names (field -> object); see adopt_objects
    objects: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self):
        if isinstance(self.data, PurePath) or (hasattr(self.data, "task") and hasattr(self.data, "train")):
            # a path or a loaded Competition: the spec keeps the directory, as a string, so it stays hashable
            root = self.data.root if hasattr(self.data, "task") else self.data
            object.__setattr__(self, "data", str(Path(root).resolve()))
        for name, value in (("name", self.name), ("data", self.data)):
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"Experiment.{name}={value!r}: give a non-empty string"
                    + (" (a built-in name or a competition directory path)" if name == "data" else "")
                )
        check_folder_name(self.name, "Experiment.name")
        self.adopt_objects()
        self.check_numbers()
        self.check_names()

    def adopt_objects(self) -> None:
        """Objects given in place of names (an nn.Module, an albumentations Compose, a loss function, a
        scikit-learn splitter, callbacks) are checked for their shape and registered under a name that
        carries their digest; the field then holds that name, so the spec serialises, keys and compares
        like any other, and `objects` keeps what each name stands for."""
        objects = {}
        if isinstance(self.augmentation, list):  # a list of (step, params), as written by hand or read from JSON
            object.__setattr__(
                self, "augmentation", tuple(tuple(s) if isinstance(s, list) else s for s in self.augmentation)
            )
        for name, (registry, expected) in OBJECT_FIELDS.items():
            value = getattr(self, name)
            if isinstance(value, str) or (name == "augmentation" and isinstance(value, tuple)):
                entry = registry.registered.get(value) if isinstance(value, str) else None
                if isinstance(entry, SpecObject):  # a copy of a spec that held an object (with_, replace)
                    objects[name] = entry.obj
                continue
            if not expected(value):
                raise ConfigError(f"{self.name}: {name}={describe(value, 80)}; {OBJECT_SHAPES[name]}")
            object.__setattr__(self, name, register_object(registry, value, name))
            objects[name] = value
        if not isinstance(self.callbacks, (tuple, list)):
            raise ConfigError(f"{self.name}: callbacks={describe(self.callbacks, 80)}; {OBJECT_SHAPES['callbacks']}")
        names, given = [], []
        for callback in self.callbacks:
            if isinstance(callback, str):
                entry = CALLBACKS.get(callback)
                callback = entry.obj if isinstance(entry, SpecObject) else entry
            if not (hasattr(callback, "on_epoch_end") or hasattr(callback, "on_step_end")):
                raise ConfigError(
                    f"{self.name}: callbacks holds {describe(callback, 80)}; {OBJECT_SHAPES['callbacks']}"
                )
            names.append(register_object(CALLBACKS, callback, "callbacks"))
            given.append(callback)
        object.__setattr__(self, "callbacks", tuple(names))
        if given:
            objects["callbacks"] = tuple(given)
        object.__setattr__(self, "objects", objects)

    def register_objects(self) -> None:
        """Register the spec's objects in this process (a Ray worker receives the spec, not the registry)."""
        for name, (registry, _) in OBJECT_FIELDS.items():
            if name in self.objects:
                registry.register(getattr(self, name), SpecObject(self.objects[name], name))
        for name, callback in zip(self.callbacks, self.objects.get("callbacks", ())):
            CALLBACKS.register(name, SpecObject(callback, "callbacks"))

    def as_plain_int(self, field_name: str, value):
        """A numpy integer (a computed count or seed) as the int it is, kept in the field; else `value`."""
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value) is not int:
            value = int(value)
            object.__setattr__(self, field_name, value)
        return value

    def check_numbers(self) -> None:
        def at_least(field_name: str, low: float, value, what: str = "", whole: bool = False) -> None:
            """A finite number >= low (NaN passed `value < low`: lr=nan trained on NaN weights); a whole one
            where a count is meant (epochs=2.5 was taken)."""
            value = self.as_plain_int(field_name, value)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < low or (whole and not isinstance(value, int)):
                kind = "a whole number" if whole else "a finite number"
                raise ConfigError(f"{self.name}: {field_name}={value!r}; use {kind} >= {low}{what}")

        at_least("epochs", 1, self.epochs, whole=True)
        at_least("batch_size", 1, self.batch_size, whole=True)
        if self.seeds == "auto":
            if not isinstance(self.max_seeds, int) or isinstance(self.max_seeds, bool) or self.max_seeds < AUTO_SEEDS:
                raise ConfigError(
                    f"{self.name}: seeds='auto' needs max_seeds, the most seeds per side a claim may "
                    f"train (an integer >= {AUTO_SEEDS}); got max_seeds={self.max_seeds!r}"
                )
        else:
            at_least("seeds", 1, self.seeds, " (the number of training seeds per fold, or 'auto')", whole=True)
            if self.max_seeds is not None:
                raise ConfigError(
                    f"{self.name}: max_seeds={self.max_seeds!r} is for seeds='auto'; with "
                    f"seeds={self.seeds!r} leave it out"
                )
        at_least("lr", 1e-12, self.lr)
        at_least("weight_decay", 0, self.weight_decay)
        at_least("mixup", 0, self.mixup)
        at_least("cutmix", 0, self.cutmix)
        for field_name in ("seed", "split_seed"):
            value = getattr(self, field_name)
            if field_name == "split_seed" and value is None:
                continue  # the split follows `seed`
            value = self.as_plain_int(field_name, value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{self.name}: {field_name}={value!r}; use an integer >= 0")
        if not (isinstance(self.train_fraction, (int, float)) and 0 < self.train_fraction <= 1):
            raise ConfigError(f"{self.name}: train_fraction={self.train_fraction!r}; use a fraction in (0, 1]")
        if isinstance(self.image_size, list):  # as read back from JSON
            object.__setattr__(self, "image_size", tuple(self.image_size))
        sides = self.image_size if isinstance(self.image_size, tuple) else (self.image_size,) * 2
        if self.image_size is not None and (
            len(sides) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in sides)
        ):
            raise ConfigError(
                f"{self.name}: image_size={self.image_size!r}; use None (keep), an integer >= 8 "
                "or a (height, width) pair of them"
            )
        if self.channels not in (None, 1, 3):
            raise ConfigError(
                f"{self.name}: channels={self.channels!r}; use None (as the images are), 1 (gray) or 3 (RGB)"
            )
        if self.warmup_epochs is not None:
            at_least("warmup_epochs", 0, self.warmup_epochs)
            if self.scheduler in SCHEDULE_WARMUP_EPOCHS and self.warmup_epochs >= self.epochs:
                raise ConfigError(
                    f"{self.name}: warmup_epochs={self.warmup_epochs!r} of a {self.epochs}-epoch run: the "
                    f"{self.scheduler} schedule would warm up for the whole run and never train at its rate; use "
                    "fewer warm-up epochs than epochs"
                )
        if self.clip_grad is not None:
            at_least("clip_grad", 0, self.clip_grad)
            if self.clip_grad == 0:
                raise ConfigError(
                    f"{self.name}: clip_grad=0 would zero every gradient; use None (no clipping) or "
                    "a norm > 0, e.g. 1.0"
                )
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"{self.name}: ema_decay={self.ema_decay!r}; use None or a value in (0, 1)")
        if self.class_weights not in (None, "balanced"):
            raise ConfigError(f"{self.name}: class_weights={self.class_weights!r}; use None or 'balanced'")
        if self.rows not in ROWS:
            raise ConfigError(f"{self.name}: rows={self.rows!r}; use one of {list(ROWS)}")
        if not isinstance(self.draft, bool):
            raise ConfigError(f"{self.name}: draft={self.draft!r}; use True or False")
        if not isinstance(self.tta, tuple):
            raise ConfigError(f"{self.name}: tta={self.tta!r}; give a tuple of view names, e.g. ('identity', 'hflip')")

    def check_names(self) -> None:
        check_pretrained = getattr(MODELS.get(MODELS.check(self.model, field="model")), "check_pretrained", None)
        if check_pretrained is not None:  # weights a named model does not have fail here, not when training starts
            try:
                check_pretrained(self.pretrained)
            except ConfigError as exc:
                raise ConfigError(f"{self.name}: {exc} (Experiment.pretrained)") from None
        LOSSES.check(self.loss, field="loss")
        OPTIMIZERS.check(self.optimizer, field="optimizer")
        self.check_keywords()
        SCHEDULERS.check(self.scheduler, field="scheduler")
        TRANSFER_MODES.check(self.transfer, field="transfer")
        if self.transfer != "scratch" and self.pretrained in (None, False) and "model" not in self.objects:
            raise ConfigError(
                f"{self.name}: transfer={self.transfer!r} keeps or slows the backbone's weights, but pretrained="
                f"{self.pretrained!r} leaves them random, so it would train a head on random features; set "
                "pretrained ('imagenet', a torchvision weights name or a checkpoint path) or transfer='scratch'"
            )
        CROPS.check(self.crop, field="crop")
        if self.crop == "face" and self.image_size is None:
            raise ConfigError(
                f"{self.name}: crop='face' cuts each face's own box, of its own size, so no one size follows from "
                "the images; set image_size (e.g. image_size=96) to the size the faces train at"
            )
        if isinstance(self.augmentation, str):
            AUGMENTATIONS.check(self.augmentation, field="augmentation")
        for view in self.tta:
            TTA_VIEWS.check(str(view).partition(":")[0], field="tta")
        parse_cv(self.cv)
        self.check_execution()

    def check_keywords(self) -> None:
        """optimizer_kw and loss_kw against what the optimizer and the loss take, so that a typo or another
        optimizer's option fails here, not when training starts, and never goes unused."""
        for name in ("model_kw", "optimizer_kw", "loss_kw"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{self.name}: {name}={describe(getattr(self, name), 80)}; give a dict of keywords")
        check_optimizer_options(self.optimizer, self.optimizer_kw, self.name)
        if self.class_weights is not None and "weight" in self.loss_kw:
            raise ConfigError(
                f"{self.name}: loss_kw['weight'] and class_weights={self.class_weights!r} both set the class "
                "weights; give one of them"
            )
        weights = {"weight": None} if self.class_weights is not None else {}
        check_loss_options(self.loss, {**self.loss_kw, **weights}, self.name)
        check_scheduler_warmup(self.scheduler, self.warmup_epochs, self.name)

    def check_execution(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"{self.name}: precision={self.precision!r}; use one of {list(PRECISIONS)} "
                "(fp16 autocast needs CUDA; 'auto' lets a probe on this machine choose)"
            )
        for name in ("channels_last", "compile"):
            value = getattr(self, name)
            if not (isinstance(value, bool) or value == "auto"):
                raise ConfigError(f"{self.name}: {name}={value!r}; use True, False or 'auto'")

    def to_dict(self) -> dict:
        """Everything that changes the numbers (the name does not); objects appear by their names."""
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.compare}
        data.pop("name")
        # the specs of every run before these fields existed stay as they were
        for optional in ("callbacks", "draft", "max_seeds"):
            if not data[optional]:
                data.pop(optional)
        if data["rows"] == "all":
            data.pop("rows")
        for name, default in KEYED_WHEN_CHANGED.items():
            if data[name] == default and type(data[name]) is type(default):
                data.pop(name)
        if "warmup_epochs" in data and data["warmup_epochs"] == SCHEDULE_WARMUP_EPOCHS.get(self.scheduler):
            data.pop("warmup_epochs")  # the schedule's own, as a spec that gives none
        if self.callbacks:
            data["callbacks"] = list(self.callbacks)
        data["augmentation"] = list(self.augmentation) if isinstance(self.augmentation, tuple) else self.augmentation
        data["tta"] = list(self.tta)
        if isinstance(self.image_size, tuple):
            data["image_size"] = list(self.image_size)
        return data

    def unit_dict(self) -> dict:
        """What one trained unit (a fold of one seed) depends on: the spec without the seed count."""
        data = self.to_dict()
        data.pop("seeds")
        data.pop("max_seeds", None)
        data.pop("seed")
        data["split_seed"] = self.split_seed_value
        return data

    def named_entries(self, metric: str | None = None) -> list[tuple[Registry, str]]:
        """(registry, name) of every named part the spec uses; `metric` is the task's."""
        used = [
            (MODELS, self.model),
            (LOSSES, self.loss),
            (OPTIMIZERS, self.optimizer),
            (SCHEDULERS, self.scheduler),
            (TRANSFER_MODES, self.transfer),
            (CROPS, self.crop),
            (CV_SCHEMES, parse_cv(self.cv)[0]),
        ]
        if isinstance(self.augmentation, str):
            used.append((AUGMENTATIONS, self.augmentation))
        else:
            used += [
                (AUGMENTATION_STEPS, step[0] if isinstance(step, (tuple, list)) else step) for step in self.augmentation
            ]
        used += [(TTA_VIEWS, str(view).partition(":")[0]) for view in self.tta]
        used += [(CALLBACKS, name) for name in self.callbacks]
        if metric:
            used.append((METRICS, metric))
        return used

    def user_code(self, metric: str | None = None) -> dict[str, str]:
        """The user code behind the spec's names (registered models, losses, ...): name -> source digest, and
        the bytes of a checkpoint it starts from. Part of every store key, so editing a registered model, or
        writing a new checkpoint at the path `pretrained` names, retrains it."""
        code = {}
        if self.pretrained is not None and is_checkpoint(self.pretrained):
            code[f"pretrained:{self.pretrained}"] = checkpoint_digest(self.pretrained)
        for registry, name in self.named_entries(metric):
            key = registry.resolve(name)
            entry = registry.entries.get(key) if key is not None else None
            if entry is not None and not is_own_code(entry):
                code[f"{registry.kind}:{name}"] = source_digest(entry, f"{self.name}: {registry.kind} {name!r}")
        return code

    def with_(self, **changes) -> "Experiment":
        return replace(self, **changes)

    def cv_scheme(self) -> tuple[str, int]:
        return parse_cv(self.cv)

    def split_columns(self) -> tuple[str, ...]:
        """The train table's columns the split reads (cv='folds:<column>'): its rows carry them, and the data's
        key covers them, so edited folds retrain."""
        return (self.cv.removeprefix("folds:"),) if self.cv.startswith("folds:") else ()

    @property
    def split_seed_value(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed

    def training_seeds(self, budget: Budget | None = None) -> list[int]:
        """The seeds trained per fold: seed, seed+1, ..., as many as the experiment or the budget asks
        (seeds='auto': the first round of a claim decided in rounds, at least AUTO_SEEDS)."""
        asked = AUTO_SEEDS if self.seeds == "auto" else int(self.seeds)
        count = max(asked, budget.seeds if budget is not None else 1)
        return [self.seed + s for s in range(count)]

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> "Experiment":
        known = {k: v for k, v in spec.items() if k in cls.__dataclass_fields__}
        for key in ("augmentation", "tta", "callbacks"):
            if isinstance(known.get(key), list):
                known[key] = tuple(tuple(x) if isinstance(x, list) else x for x in known[key])
        return cls(name=name, **known)


# Names other libraries and notebooks give a field, and the field that holds it here. Spelling alone misled on
# these: transforms= was answered "did you mean 'transfer'?" (transfer learning), competition= "'augmentation'?".
FIELD_SYNONYMS = {
    **dict.fromkeys(["competition", "dataset"], "data"),
    **dict.fromkeys(["backbone", "arch", "architecture", "model_name", "net"], "model"),
    **dict.fromkeys(["transform", "transforms", "augment", "augmentations", "aug"], "augmentation"),
    **dict.fromkeys(["criterion", "loss_fn", "loss_function"], "loss"),
    **dict.fromkeys(["learning_rate", "max_lr"], "lr"),
    **dict.fromkeys(["folds", "n_folds", "num_folds", "n_splits", "splitter"], "cv"),
    **dict.fromkeys(["n_seeds", "num_seeds"], "seeds"),
    **dict.fromkeys(["amp", "mixed_precision", "dtype"], "precision"),
    **dict.fromkeys(["grad_clip", "max_grad_norm", "clip_grad_norm"], "clip_grad"),
    **dict.fromkeys(["lr_scheduler", "sched", "schedule"], "scheduler"),
    **dict.fromkeys(["weights", "pretrained_weights"], "pretrained"),
    **dict.fromkeys(["in_chans", "in_channels", "num_channels"], "channels"),
    "wd": "weight_decay",
    "bs": "batch_size",
    "ema": "ema_decay",
    "seed_list": "seeds",
}


# Keywords of a loss or an optimizer given as fields, and how a spec says them.
KEYWORD_HOMES = {
    "label_smoothing": "loss='label_smoothing', loss_kw={'smoothing': ...}",
    **{name: f"optimizer_kw={{{name!r}: ...}}" for name in ("momentum", "nesterov", "betas")},
}


def field_hint(key: str, known: list[str]) -> str:
    """' (did you mean ...?)' for an unknown field: how a spec says a loss's or optimizer's keyword, the field
    another library's name for it maps to, else the known field spelt closest."""
    if key in KEYWORD_HOMES:
        return f" (did you mean {KEYWORD_HOMES[key]}?)"
    meant = FIELD_SYNONYMS.get(key)
    return f" (did you mean {meant!r}?)" if meant else did_you_mean(key, known)


def refuse_unknown_fields(init: Callable) -> Callable:
    """Experiment.__init__ that answers a misspelt field (epoch=3) with a ConfigError naming the field
    meant, where the dataclass's own would raise a bare TypeError."""
    known = [f.name for f in fields(Experiment) if f.init]

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        unknown = [key for key in kwargs if key not in known]
        if unknown:
            who = kwargs.get("name", args[0] if args else "Experiment")
            wrong = ", ".join(f"{key}={describe(kwargs[key], 40)}{field_hint(key, known)}" for key in unknown)
            raise ConfigError(f"{who}: Experiment has no field for {wrong}; its fields: {', '.join(known)}")
        init(self, *args, **kwargs)

    return checked


Experiment.__init__ = refuse_unknown_fields(Experiment.__init__)  # type: ignore[method-assign]


@dataclass(frozen=True)
class Provenance:
    """Where a Result came from, apart from what it measured: the data and competition content it was trained
    on, where the store keeps its units, the execution path, an ensemble's members, and whether it was served
    from the store (and from which entry folder). Everything but cache_hit and path is stored with it."""

    data_fingerprint: str = ""
    competition_digest: str = ""  # the competition's content (files, labels, task) it was trained on
    skipped: list[dict] = field(default_factory=list)  # train rows left out, their images missing (on_missing)
    train_rows: int = 0  # rows of the (budget-scaled) train table
    unit_key: str = ""  # where the store keeps its units (fold x seed outputs and weights)
    execution: dict = field(default_factory=dict)  # the execution path and how it was chosen (runner.plan_execution)
    members: list[str] = field(default_factory=list)  # an ensemble's members, by name
    cache_hit: bool = False  # served from the store
    path: Path | None = None  # the store entry it was read from

    STORED: ClassVar[tuple[str, ...]] = (
        "data_fingerprint",
        "competition_digest",
        "skipped",
        "train_rows",
        "unit_key",
        "execution",
        "members",
    )


@dataclass(frozen=True)
class Result:
    """What a run produced. OOF rows index the (budget-scaled) train table. Built once: a changed view of
    it (scored on eval answers, served from the store, renamed) is a new Result (dataclasses.replace).

    seed_oof_probs / seed_eval_probs hold each training seed's probabilities
    (S, N, C); oof_probs / eval_probs are their mean (the seed ensemble one
    would submit). The headline score is the mean of the per-seed scores.
    """

    name: str
    spec: dict
    budget: str
    key: str
    class_names: list[str]
    metric: str
    y: np.ndarray  # labels of the OOF rows
    oof_index: np.ndarray  # train-table rows predicted out of fold
    oof_probs: np.ndarray
    eval_ids: np.ndarray
    eval_probs: np.ndarray
    folds: list[dict]  # per fold and seed: val and train metrics, history, seconds
    seconds: float
    seed_oof_probs: np.ndarray | None = None
    seed_eval_probs: np.ndarray | None = None
    groups: np.ndarray | None = None  # group of each OOF row, for a bootstrap by group
    eval_metrics: dict | None = None  # only where eval answers exist (scored by competition.scoring)
    provenance: Provenance = field(default_factory=Provenance)

    # --- seeds ------------------------------------------------------------------------
    def seed_probs(self) -> np.ndarray:
        """(S, N, C): per-seed OOF probabilities (one seed when none were kept)."""
        return self.seed_oof_probs if self.seed_oof_probs is not None else self.oof_probs[None]

    def seed_eval(self) -> np.ndarray:
        return self.seed_eval_probs if self.seed_eval_probs is not None else self.eval_probs[None]

    @property
    def n_seeds(self) -> int:
        return len(self.seed_probs())

    def seed_scores(self, metric: str | None = None) -> np.ndarray:
        fn = get_metric(metric or self.metric)
        return np.array([fn(self.y, probs) for probs in self.seed_probs()])

    def score(self, metric: str | None = None) -> float:
        """The mean over seeds of the OOF score."""
        return float(self.seed_scores(metric).mean())

    @property
    def oof_metrics(self) -> dict[str, float]:
        return compute_metrics(self.y, self.oof_probs, scored_metrics(self.metric))

    # --- folds ------------------------------------------------------------------------
    def fold_scores(self, metric: str | None = None) -> np.ndarray:
        metric = metric or self.metric
        return np.array([f["val_metrics"][metric] for f in self.folds])

    def train_score(self, metric: str | None = None) -> float:
        metric = metric or self.metric
        return float(np.mean([f["train_metrics"][metric] for f in self.folds]))

    def gap(self, metric: str | None = None) -> float:
        """Train minus validation, both on unaugmented images, averaged over folds and seeds."""
        metric = metric or self.metric
        return self.train_score(metric) - float(np.mean(self.fold_scores(metric)))

    def seed_gaps(self, metric: str | None = None) -> np.ndarray:
        """The gap of each seed, averaged over its folds."""
        metric = metric or self.metric
        by_seed: dict[int, list[float]] = {}
        for f in self.folds:
            by_seed.setdefault(f.get("seed", 0), []).append(f["train_metrics"][metric] - f["val_metrics"][metric])
        return np.array([np.mean(v) for _, v in sorted(by_seed.items())])

    def fold_summary(self) -> dict[str, dict[str, float]]:
        """Mean and std over folds of each train and val metric."""
        out = {}
        for side in ("train_metrics", "val_metrics"):
            for metric in EVAL_METRICS:
                values = np.array([f[side][metric] for f in self.folds])
                out[f"{side[:-8]}_{metric}"] = {
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                }
        return out


ARRAY_FIELDS = ("y", "oof_index", "oof_probs", "eval_ids", "eval_probs", "seed_oof_probs", "seed_eval_probs", "groups")


def result_to_json(result: Result) -> dict:
    """The Result's scalars and lists (arrays go to result_arrays)."""
    data = {k: v for k, v in result.__dict__.items() if k not in (*ARRAY_FIELDS, "provenance")}
    data.update({k: getattr(result.provenance, k) for k in Provenance.STORED})  # flat: the stored format is unchanged
    return json.loads(json.dumps(data, default=float))


def result_arrays(result: Result) -> dict[str, np.ndarray]:
    arrays = {k: getattr(result, k) for k in ARRAY_FIELDS if getattr(result, k) is not None}
    arrays["eval_ids"] = np.asarray(result.eval_ids).astype(str)
    if "groups" in arrays:
        arrays["groups"] = np.asarray(arrays["groups"]).astype(str)
    return arrays


def result_from_parts(meta: dict, arrays: dict[str, np.ndarray]) -> Result:
    given: dict[str, Any] = {k: v for k, v in meta.items() if k not in Provenance.STORED}
    given.update({k: arrays.get(k) for k in ARRAY_FIELDS})
    return Result(**given, provenance=Provenance(**{k: v for k, v in meta.items() if k in Provenance.STORED}))


@dataclass
class PreparedData:
    """What training may see: the budget-scaled train table with its cached images and
    the eval images. It holds no competition, path or answer: the eval answers stay
    with the scoring code (competition.scoring)."""

    table: pd.DataFrame  # image_id, path, label, group: the budget-scaled train table
    images: np.ndarray  # its cached images, row-aligned (N x H x W x C uint8)
    eval_images: np.ndarray | None
    eval_ids: np.ndarray
    class_names: tuple[str, ...]
    metric: str
    fingerprint: str
    task: dict = field(default_factory=dict)  # what scores it (metric, classes, label space): in the store key
    competition_digest: str = ""
    skipped: list[dict] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
