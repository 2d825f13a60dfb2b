"""Losses by name: ``create_criterion(name, **kw)``.

Every loss takes logits (B, C) and targets that are either class indices (B,)
or soft target distributions (B, C) (mixup/cutmix), so one loss serves both.
"""

from __future__ import annotations

import copy
import inspect

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import LOSSES, SpecObject, check_loss_options


def as_soft(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    if targets.ndim == 2:
        return targets.float()
    return F.one_hot(targets.long(), num_classes).float()


class WeightedSoftCE(nn.Module):
    """Cross entropy with optional class weights, label smoothing and a focal term.

    Weighted mean as torch.nn.CrossEntropyLoss: sum(w * loss) / sum(w), where
    each sample's weight is its target-weighted class weight. With gamma=0 it is
    cross entropy; with smoothing it matches torch's label_smoothing argument.
    """

    weight: torch.Tensor | None  # a buffer (saved with the loss, moved with it)

    def __init__(self, weight=None, smoothing: float = 0.0, gamma: float = 0.0):
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.smoothing, self.gamma = smoothing, gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        num_classes = logits.shape[1]
        soft = as_soft(targets, num_classes)
        log_p = F.log_softmax(logits.float(), dim=1)
        if self.smoothing:
            soft = soft * (1 - self.smoothing) + self.smoothing / num_classes
        per_class = -log_p
        if self.gamma:
            per_class = per_class * (1 - log_p.exp()).pow(self.gamma)
        w = self.weight if self.weight is not None else torch.ones(num_classes, device=logits.device)
        sample_w = (as_soft(targets, num_classes) * w).sum(1)  # weight of each sample's true class
        losses = (soft * per_class).sum(1) * sample_w
        return losses.sum() / sample_w.sum()


class SoftMacroF1Loss(nn.Module):
    """1 - soft macro F1, with class probabilities standing in for counts."""

    def __init__(self, eps: float = 1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        probs = logits.float().softmax(1)
        soft = as_soft(targets, logits.shape[1])
        tp = (probs * soft).sum(0)
        fp = (probs * (1 - soft)).sum(0)
        fn = ((1 - probs) * soft).sum(0)
        f1 = 2 * tp / (2 * tp + fp + fn + self.eps)
        return 1 - f1.mean()


def balanced_class_weights(labels, num_classes: int) -> torch.Tensor:
    """n / (C * count_c), scikit-learn's 'balanced' weights."""
    counts = torch.bincount(torch.as_tensor(labels), minlength=num_classes).float().clamp(min=1)
    return counts.sum() / (num_classes * counts)


for _name, _factory in {
    "cross_entropy": lambda weight=None: WeightedSoftCE(weight),
    "focal": lambda gamma=2.0, alpha=None, weight=None: WeightedSoftCE(
        alpha if alpha is not None else weight, gamma=gamma
    ),
    "label_smoothing": lambda smoothing=0.1, weight=None: WeightedSoftCE(weight, smoothing=smoothing),
    "f1": lambda eps=1e-7: SoftMacroF1Loss(eps),
    "soft_target_ce": lambda weight=None: WeightedSoftCE(weight),
}.items():
    LOSSES.register(_name, _factory)


class FunctionLoss(nn.Module):
    """A loss function (logits, targets) -> scalar as a module. Targets are class indices (B,), or class
    probabilities (B, C) under mixup or cutmix."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.fn(logits, targets)


def object_criterion(obj, **kw) -> nn.Module:
    """A spec's loss object: an nn.Module loss (copied), a loss class (called with loss_kw) or a function."""
    if isinstance(obj, nn.Module):
        return copy.deepcopy(obj)
    if inspect.isclass(obj):
        made = obj(**kw)
        return made if isinstance(made, nn.Module) else FunctionLoss(made)  # a plain callable class
    return FunctionLoss(obj)


def create_criterion(name: str, **kw) -> nn.Module:
    check_loss_options(name, kw, "create_criterion")  # nothing given may go unused
    factory = LOSSES.get(name)
    try:
        return object_criterion(factory.obj, **kw) if isinstance(factory, SpecObject) else factory(**kw)
    except TypeError as exc:
        raise ConfigError(f"loss {name!r}: {exc}") from exc


def described_tensor(tensor: torch.Tensor) -> str:
    return f"{tuple(tensor.shape)} {str(tensor.dtype).removeprefix('torch.')}"


def loss_of(criterion: nn.Module, logits: torch.Tensor, targets: torch.Tensor, name: str) -> torch.Tensor:
    """criterion(logits, targets), held to what the loop needs of a loss: one number, with a gradient while
    training. One's own loss that fails on what it is given, or returns per-sample losses, a float or a
    detached tensor, is a ConfigError naming the loss, its inputs and its output, not torch's message from
    deep inside backward()."""
    given = f"logits {described_tensor(logits)} and targets {described_tensor(targets)}"
    contract = (
        "a loss takes logits (B, C) and targets that are class indices (B,) int64, or class probabilities "
        "(B, C) under mixup or cutmix, and returns the batch's loss as one number (a 0-d tensor, e.g. "
        "reduction='mean')"
    )
    try:
        loss = criterion(logits, targets)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ConfigError(f"loss {name!r} failed on {given} ({type(exc).__name__}: {exc}); {contract}") from exc
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = described_tensor(loss) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ConfigError(f"loss {name!r} returned {got} for {given}; {contract}")
    loss = loss.reshape(())  # a (1,) loss is one number too
    if logits.requires_grad and not loss.requires_grad:
        raise ConfigError(
            f"loss {name!r} returned a tensor without a gradient for {given}: it was computed outside torch's "
            "graph (.item(), .detach(), numpy, torch.no_grad), so nothing would train; compute it from the logits "
            "with torch operations"
        )
    return loss
