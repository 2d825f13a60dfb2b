"""Transfer-learning modes: which parameters train, and at what learning rate.

- ``scratch``: everything trains at the base learning rate.
- ``finetune``: everything trains; the backbone at ``lr * backbone_lr_mult``.
- ``feature-extract``: the backbone and its BatchNorm statistics are frozen;
  only the head trains (the loop then caches features once).
- ``partial:N``: only the last N backbone stages and the head train.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from ..registry import TRANSFER_MODES
from .classifier import Classifier

for _mode in ("scratch", "finetune", "feature-extract", "partial:"):
    TRANSFER_MODES.register(_mode, _mode)


def parse_mode(mode: str, n_stages: int) -> int:
    """How many trailing backbone stages train (n_stages = all)."""
    if mode in ("scratch", "finetune"):
        return n_stages
    if mode == "feature-extract":
        return 0
    if mode.startswith("partial:") and mode[8:].isdigit():
        n = int(mode[8:])
        if not 0 <= n <= n_stages:
            raise ConfigError(f"transfer={mode!r}: the model has {n_stages} stages; use partial:0..{n_stages}")
        return n
    TRANSFER_MODES.check(mode)
    raise ConfigError(f"transfer={mode!r}: use partial:N with N a whole number of stages, 0..{n_stages}")


def apply_transfer(model: Classifier, mode: str, lr: float, backbone_lr_mult: float = 0.1) -> list[dict]:
    """Freeze what `mode` freezes and return optimizer parameter groups."""
    trainable = parse_mode(mode, len(model.stages))
    frozen_stages = model.stages[: len(model.stages) - trainable]
    model.unfreeze()
    if trainable == 0:
        frozen_modules: list[nn.Module] = [model.backbone]
    else:
        frozen_modules = list(frozen_stages)
    for module in frozen_modules:
        for p in module.parameters():
            p.requires_grad_(False)
    model.frozen = frozen_modules
    model.train(model.training)
    head = list(model.head.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    mult = 1.0 if mode == "scratch" else backbone_lr_mult
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(
            f"model {model.name or type(model.backbone).__qualname__}: no parameter trains (transfer={mode!r}, "
            "and every parameter of the model as made has requires_grad=False); leave the layers that "
            "should learn trainable (a frozen backbone needs a head of its own that trains)"
        )
    groups = [{"params": head, "lr": lr, "name": "head"}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * mult, "name": "backbone"})
    return groups
