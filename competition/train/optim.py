"""Optimizers and schedulers by name."""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau, StepLR

from ..errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "onecycle", "step", "plateau")


def split_decay(groups: list[dict], weight_decay: float) -> list[dict]:
    """No weight decay on biases and norm parameters (every tensor with ndim <= 1)."""
    out = []
    for group in groups:
        params = [p for p in group["params"] if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        base = {k: v for k, v in group.items() if k != "params"}
        if decay:
            out.append({**base, "params": decay, "weight_decay": weight_decay})
        if no_decay:
            out.append({**base, "params": no_decay, "weight_decay": 0.0})
    return out


def create_optimizer(name: str, groups: list[dict], lr: float, weight_decay: float = 5e-4,
                     momentum: float = 0.9, nesterov: bool = True) -> torch.optim.Optimizer:
    groups = split_decay(groups, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ConfigError(f"unknown optimizer {name!r}; known optimizers: {list(OPTIMIZERS)}")


def create_scheduler(name: str, optimizer, epochs: int, steps_per_epoch: int, warmup_epochs: float = 0.0,
                     step_size: int = 10, gamma: float = 0.1, patience: int = 2):
    """A scheduler with `.interval` = "step" (call each batch) or "epoch"."""
    total = max(1, epochs * steps_per_epoch)
    warmup = int(warmup_epochs * steps_per_epoch)
    if name == "none":
        scheduler, interval = LambdaLR(optimizer, lambda step: 1.0), "epoch"
    elif name == "cosine":
        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        scheduler, interval = LambdaLR(optimizer, factor), "step"
    elif name == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        scheduler = OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total,
                               pct_start=max(warmup / total, 0.15))
        interval = "step"
    elif name == "step":
        scheduler, interval = StepLR(optimizer, step_size=step_size, gamma=gamma), "epoch"
    elif name == "plateau":
        scheduler, interval = ReduceLROnPlateau(optimizer, mode="max", factor=gamma, patience=patience), "epoch"
    else:
        raise ConfigError(f"unknown scheduler {name!r}; known schedulers: {list(SCHEDULERS)}")
    scheduler.interval = interval
    return scheduler
