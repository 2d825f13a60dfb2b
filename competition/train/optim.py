"""Optimizers and schedulers by name."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

from ..errors import ConfigError
from ..registry import (
    OPTIMIZERS,
    SCHEDULE_WARMUP_EPOCHS,
    SCHEDULERS,
    WARMUP_ARGUMENT,
    SpecObject,
    call_with_accepted,
    check_optimizer_options,
    check_scheduler_warmup,
    is_own_code,
)


def split_decay(groups: list[dict], weight_decay: float, norm_lr_mult: float = 1.0) -> list[dict]:
    """No weight decay on biases and norm parameters (every tensor with ndim <= 1), whose learning rate
    is the group's times norm_lr_mult (the fast recipe trains BatchNorm biases much faster).

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
            lr = {"lr": base["lr"] * norm_lr_mult} if norm_lr_mult != 1.0 else {}
            out.append({**base, "params": no_decay, "weight_decay": 0.0, **lr})
    return out


# Kept instead of timm's create_optimizer_v2 / create_scheduler_v2: those take a model and build their own
# parameter groups, while here the transfer mode has already made groups with per-group learning rates.
OPTIMIZERS.register(
    "sgd",
    lambda groups, lr, momentum=0.9, nesterov=True: torch.optim.SGD(
        groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0
    ),
)
# each factory names the options it takes (an Experiment's optimizer_kw is checked against them); the
# weight decay is set per parameter group by split_decay, so it is not one of them
OPTIMIZERS.register(
    "adam",
    lambda groups, lr, betas=(0.9, 0.999), eps=1e-8: torch.optim.Adam(groups, lr=lr, betas=tuple(betas), eps=eps),
)
OPTIMIZERS.register(
    "adamw",
    lambda groups, lr, betas=(0.9, 0.999), eps=1e-8: torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps),
)


class Lookahead(torch.optim.Optimizer):
    """Lookahead (Zhang et al., 2019) around any optimizer: every `steps` steps the slow weights move
    `alpha` of the way to the fast ones, and the fast weights restart from there.

    It shares the inner optimizer's param_groups, so a scheduler that sets their learning rates steers
    the inner steps; the slow weights and the step count are in state_dict, so a resumed fit continues
    bit for bit. (The base class's constructor is not run: there are no groups of its own to build.)"""

    def __init__(self, inner: torch.optim.Optimizer, steps: int = 5, alpha: float = 0.5):
        if not (isinstance(steps, int) and steps >= 1 and 0 < alpha <= 1):
            raise ConfigError(f"lookahead: steps={steps!r}, alpha={alpha!r}; use an integer >= 1 and a value in (0, 1]")
        self.inner, self.sync_every, self.alpha = inner, steps, alpha
        self.defaults, self.param_groups, self.state = inner.defaults, inner.param_groups, inner.state
        self.slow = [p.detach().clone() for p in self.parameters()]
        self.fast_steps = 0

    def parameters(self):
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        loss = self.inner.step(closure)
        self.fast_steps += 1
        if self.fast_steps % self.sync_every == 0:
            for slow, fast in zip(self.slow, self.parameters()):
                slow.add_(fast - slow, alpha=self.alpha)
                fast.copy_(slow)
        return loss

    def state_dict(self) -> dict:
        return {"inner": self.inner.state_dict(), "slow": [s.clone() for s in self.slow], "fast_steps": self.fast_steps}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state["inner"])
        for slow, saved in zip(self.slow, state["slow"]):
            slow.copy_(saved)
        self.fast_steps = state["fast_steps"]


def create_optimizer(
    name: str,
    groups: list[dict],
    lr: float,
    weight_decay: float = 5e-4,
    norm_lr_mult: float = 1.0,
    lookahead_steps: int = 0,
    lookahead_alpha: float = 0.5,
    **options,
) -> torch.optim.Optimizer:
    """An optimizer by name over `groups`; norm_lr_mult scales the learning rate of biases and norm
    parameters; lookahead_steps > 0 wraps it in Lookahead; `options` go to the optimizer's factory
    (momentum and nesterov to SGD, betas and eps to Adam/AdamW), which must take them."""
    check_optimizer_options(name, options, f"optimizer {name!r}")
    entry, groups = OPTIMIZERS.get(name), split_decay(groups, weight_decay, norm_lr_mult)
    if isinstance(entry, SpecObject):  # one's own factory: (params, lr[, weight_decay, its own options])
        optimizer = call_with_accepted(entry.obj, params=groups, lr=lr, weight_decay=weight_decay, **options)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ConfigError(f"optimizer {entry.obj!r} gave {type(optimizer).__name__}, not a torch.optim.Optimizer")
    else:
        optimizer = entry(groups, lr, **options)
    if not is_builtin(entry):
        check_own_optimizer(optimizer, groups, lr, name)
    return Lookahead(optimizer, lookahead_steps, lookahead_alpha) if lookahead_steps else optimizer


def is_builtin(entry) -> bool:
    return not isinstance(entry, SpecObject) and is_own_code(entry)


def check_own_optimizer(optimizer: torch.optim.Optimizer, groups: list[dict], lr: float, shown: str) -> None:
    """One's own optimizer steps the parameters it was given, at the rate it was given."""
    given = {id(p) for group in groups for p in group["params"]}
    foreign = sum(id(p) not in given for group in optimizer.param_groups for p in group["params"])
    if foreign:
        raise ConfigError(
            f"optimizer {shown!r} holds {foreign} parameter(s) it was not given: build it on the `params` it is "
            "given. Each unit trains its own copy of the model, so parameters taken from elsewhere (a "
            "notebook's `model.parameters()`) are never the ones that learn, and the model would not train"
        )
    own_lr = optimizer.defaults.get("lr", lr)
    if float(own_lr) != float(lr):
        raise ConfigError(
            f"optimizer {shown!r} set lr={float(own_lr)!r}, but it was given lr={lr!r}, and the given one trains: "
            "the parameter groups carry it (with the transfer mode's multipliers), so its own went unused. "
            "Pass `lr` on, and set Experiment(lr=...)"
        )


MOMENTUM_OPTIONS = frozenset({"momentum", "betas"})


def cycles_momentum(optimizer: str, options: dict) -> bool:
    """Whether onecycle may cycle the momentum (Adam's beta1) from 0.95 down to 0.85 and back, as the one-cycle
    policy does: only for a built-in optimizer at its default momentum. Cycling replaced a momentum the spec set
    (SGD's momentum=0 trained at 0.85-0.95, so a search over momentum scored one run many times) and one's own
    optimizer's (and made torch refuse one without momentum, Adagrad)."""
    return is_builtin(OPTIMIZERS.get(optimizer)) and not MOMENTUM_OPTIONS & set(options)


def warmup_factor(step: int, warmup: int) -> float:
    """The linear warm-up's factor at `step` of a `warmup`-step ramp (1 after it)."""
    return min(1.0, (step + 1) / warmup) if warmup else 1.0


def cosine_factor(total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return warmup_factor(step, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def step_factor(warmup: int, steps_per_decay: int, gamma: float):
    """The warm-up, then the rate times gamma every steps_per_decay steps (StepLR's schedule, per batch)."""
    return lambda step: warmup_factor(step, warmup) * gamma ** (step // steps_per_decay)


# each: (optimizer, total steps, warmup steps, options) -> (scheduler, "step" or "epoch")
SCHEDULERS.register("none", lambda opt, total, warmup, o: (LambdaLR(opt, lambda s: warmup_factor(s, warmup)), "step"))
SCHEDULERS.register("cosine", lambda opt, total, warmup, o: (LambdaLR(opt, cosine_factor(total, warmup)), "step"))


def onecycle_warmup_fraction(total: int, warmup: int) -> float:
    """OneCycleLR's pct_start: the warm-up, at least 0.15 of the run and two steps (torch divides by zero when the
    warm-up phase ends on step 0), at most half. Under four steps there is no room for both; 0.75 keeps torch's
    phase ends apart (0.5 made a run of two steps, one epoch of two batches, fail with ZeroDivisionError)."""
    return 0.75 if total < 4 else min(max(warmup / total, 0.15, 2 / total), 0.5)


SCHEDULERS.register(
    "onecycle",
    lambda opt, total, warmup, o: (
        OneCycleLR(
            opt,
            max_lr=[g["lr"] for g in opt.param_groups],
            total_steps=total,
            pct_start=onecycle_warmup_fraction(total, warmup),
            cycle_momentum=o["cycle_momentum"],
        ),
        "step",
    ),
)
SCHEDULERS.register(
    "step",
    lambda opt, total, warmup, o: (
        LambdaLR(opt, step_factor(warmup, o["step_size"] * o["steps_per_epoch"], o["gamma"])),
        "step",
    ),
)
SCHEDULERS.register(
    "plateau",
    lambda opt, total, warmup, o: (
        ReduceLROnPlateau(opt, mode="max", factor=o["gamma"], patience=o["patience"]),
        "epoch",
    ),
)


def create_scheduler(
    name: str,
    optimizer,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: float | None = None,
    step_size: int | None = None,
    gamma: float = 0.1,
    patience: int = 2,
    cycle_momentum: bool = True,
):
    """A scheduler with `.interval` = "step" (call each batch) or "epoch" (a ReduceLROnPlateau: call with
    the epoch's validation figure, see `plateau_figure`). "step" multiplies the learning rate by gamma every
    step_size epochs, by default a third of the run (a fixed 10 left every run of 10 epochs or fewer at its
    first rate). warmup_epochs None is the schedule's own (SCHEDULE_WARMUP_EPOCHS); one's own factory is then
    not told one, and keeps its own default. cycle_momentum lets onecycle cycle the momentum (see
    `cycles_momentum`)."""
    check_scheduler_warmup(name, warmup_epochs, "create_scheduler")
    total = max(1, epochs * steps_per_epoch)
    step_size = step_size or max(1, math.ceil(epochs / 3))
    options = {
        "step_size": step_size,
        "gamma": gamma,
        "patience": patience,
        "steps_per_epoch": steps_per_epoch,
        "cycle_momentum": cycle_momentum,
    }
    entry = SCHEDULERS.get(name)
    if isinstance(entry, SpecObject):  # one's own factory: (optimizer, total_steps[, warmup_steps]), every batch
        told = {} if warmup_epochs is None else {WARMUP_ARGUMENT: int(warmup_epochs * steps_per_epoch)}
        scheduler = call_with_accepted(
            entry.obj, optimizer=optimizer, total_steps=total, epochs=epochs, steps_per_epoch=steps_per_epoch, **told
        )
        # a ReduceLROnPlateau follows a figure, so it steps once per epoch, not after every batch
        interval = "epoch" if isinstance(scheduler, ReduceLROnPlateau) else "step"
    else:
        own_warmup = SCHEDULE_WARMUP_EPOCHS.get(name, 0.0)
        warmup = int((own_warmup if warmup_epochs is None else warmup_epochs) * steps_per_epoch)
        scheduler, interval = entry(optimizer, total, warmup, options)
    scheduler.interval = interval
    return scheduler


def plateau_figure(scheduler: ReduceLROnPlateau, row: dict, score: float) -> float:
    """What an epoch's ReduceLROnPlateau follows: the monitored score in mode 'max' (the built-in
    'plateau'), the validation loss (the training loss without validation rows) in mode 'min'."""
    return score if scheduler.mode == "max" else row.get("val_loss", row["train_loss"])
