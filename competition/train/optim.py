"""Optimizers and schedulers by name."""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau, StepLR

from ..registry import OPTIMIZERS, SCHEDULERS


def split_decay(groups: list[dict], weight_decay: float) -> list[dict]:
    """No weight decay on biases and norm parameters (every tensor with ndim <= 1).

    Kept instead of timm's param_groups_weight_decay, which takes a whole model:
    here the groups already carry per-group learning rates from the transfer mode."""
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


# Kept instead of timm's create_optimizer_v2 / create_scheduler_v2: those take a model and build their own
# parameter groups, while here the transfer mode has already made groups with per-group learning rates.
OPTIMIZERS.register("sgd", lambda groups, lr, momentum=0.9, nesterov=True:
                   torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0))
OPTIMIZERS.register("adam", lambda groups, lr, **_: torch.optim.Adam(groups, lr=lr))
OPTIMIZERS.register("adamw", lambda groups, lr, **_: torch.optim.AdamW(groups, lr=lr))


def create_optimizer(name: str, groups: list[dict], lr: float, weight_decay: float = 5e-4,
                     momentum: float = 0.9, nesterov: bool = True) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(name)(split_decay(groups, weight_decay), lr, momentum=momentum, nesterov=nesterov)


def cosine_factor(total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


# each: (optimizer, total steps, warmup steps, options) -> (scheduler, "step" or "epoch")
SCHEDULERS.register("none", lambda opt, total, warmup, o: (LambdaLR(opt, lambda step: 1.0), "epoch"))
SCHEDULERS.register("cosine", lambda opt, total, warmup, o: (LambdaLR(opt, cosine_factor(total, warmup)), "step"))
# the warm-up phase needs at least two steps, or torch divides by zero on a run of a handful of steps
SCHEDULERS.register("onecycle", lambda opt, total, warmup, o: (
    OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total,
               pct_start=min(max(warmup / total, 0.15, 2 / total), 0.5)), "step"))
SCHEDULERS.register("step", lambda opt, total, warmup, o: (
    StepLR(opt, step_size=o["step_size"], gamma=o["gamma"]), "epoch"))
SCHEDULERS.register("plateau", lambda opt, total, warmup, o: (
    ReduceLROnPlateau(opt, mode="max", factor=o["gamma"], patience=o["patience"]), "epoch"))


def create_scheduler(name: str, optimizer, epochs: int, steps_per_epoch: int, warmup_epochs: float = 0.0,
                     step_size: int = 10, gamma: float = 0.1, patience: int = 2):
    """A scheduler with `.interval` = "step" (call each batch) or "epoch"."""
    total = max(1, epochs * steps_per_epoch)
    warmup = int(warmup_epochs * steps_per_epoch)
    options = {"step_size": step_size, "gamma": gamma, "patience": patience}
    scheduler, interval = SCHEDULERS.get(name)(optimizer, total, warmup, options)
    scheduler.interval = interval
    return scheduler
