"""One shape for every model: backbone -> pooled features -> linear head.

Input normalisation lives in the model, so a uint8 batch can be fed as is and
predict, TTA and feature extraction treat every architecture alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

FIT_SAMPLE = 5000  # training images a data-fitted layer sees: 3.6 million 2x2 patches at 28 px


class Classifier(nn.Module):
    """backbone(x) -> (B, num_features); head: Linear(num_features, num_classes), or none when the
    backbone gives logits already (head=False).

    stages: the backbone's sub-modules in input-to-output order; transfer
    modes freeze a prefix of them.
    """

    mean: torch.Tensor  # buffers (saved with the weights)
    std: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        num_features: int,
        num_classes: int,
        in_chans: int,
        stages: list[nn.Module],
        mean=(0.5,),
        std=(0.5,),
        dropout: float = 0.0,
        name: str = "",
        head: bool = True,
    ):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        # head=False: the backbone already gives logits (one's own module that ends in its classifier)
        self.head = nn.Linear(num_features, num_classes) if head else nn.Identity()
        self.stages = stages  # plain list: the modules are registered under backbone
        self.num_features, self.num_classes, self.in_chans, self.name = num_features, num_classes, in_chans, name
        # saved with the weights, so a checkpoint restores the normalisation it was trained with
        self.register_buffer("mean", per_channel(mean, in_chans).view(1, -1, 1, 1))
        self.register_buffer("std", per_channel(std, in_chans).view(1, -1, 1, 1))
        self.frozen: list[nn.Module] = []
        self.held: frozenset[str] = frozenset()  # parameter names the model's maker froze: hold_frozen

    def hold_frozen(self) -> None:
        """Keep frozen what the model's maker froze (requires_grad=False on one's own backbone: feature
        extraction written by hand); transfer modes and unfreeze() used to train it again without a word."""
        self.held = frozenset(name for name, p in self.named_parameters() if not p.requires_grad)

    def set_normalization(self, mean, std) -> None:
        self.mean.copy_(per_channel(mean, self.in_chans).view(1, -1, 1, 1))
        self.std.copy_(per_channel(std, self.in_chans).view(1, -1, 1, 1))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ConfigError(
                f"{self.name or 'model'} expects input (B, {self.in_chans}, H, W) but got "
                f"{tuple(x.shape)}; set in_chans={x.shape[1] if x.ndim == 4 else '?'} "
                "or Preprocess(channels=...) to match"
            )
        if x.dtype == torch.uint8:  # raw cache pixels: scale here, once per batch
            x = x.float().div_(255)
        return (x - self.mean) / self.std

    def fixed_parameters(self) -> list[nn.Parameter]:
        """Parameters that never train: the architecture's (SpeedNet's whitening filters and BatchNorm
        weights) and those the model's maker froze (hold_frozen)."""
        fixed = getattr(self.backbone, "fixed_parameters", None)
        held = [p for name, p in self.named_parameters() if name in self.held]
        return (list(fixed()) if fixed is not None else []) + held

    def unfreeze(self) -> None:
        """Every parameter trainable again, except the fixed ones."""
        for p in self.parameters():
            p.requires_grad_(True)
        for p in self.fixed_parameters():
            p.requires_grad_(False)
        self.frozen = []

    def fit_to_images(self, images: np.ndarray) -> None:
        """Let a backbone that sets layers from data (SpeedNet's whitening) see the training images
        (N x H x W x C uint8; the first FIT_SAMPLE), normalised as in training; other backbones ignore it."""
        fit = getattr(self.backbone, "fit_to_images", None)
        if fit is not None:
            x = torch.from_numpy(np.array(images[:FIT_SAMPLE])).permute(0, 3, 1, 2)  # a writable copy
            fit(self.normalize(x.to(self.mean.device)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(self.normalize(x))
        if not isinstance(features, torch.Tensor):  # torchvision's Inception and GoogLeNet, training: (logits, aux)
            raise ConfigError(
                f"model {self.name or type(self.backbone).__qualname__} gives {type(features).__name__} in "
                f"{'training' if self.training else 'eval'} mode, not one tensor; give a module that returns its "
                "logits or features as one tensor in both modes (torchvision's Inception and GoogLeNet: "
                "aux_logits=False)"
            )
        return features

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.frozen:  # frozen stages keep their BatchNorm statistics
            module.eval()
        return self


def per_channel(values, in_chans: int) -> torch.Tensor:
    values = torch.tensor(values, dtype=torch.float32)
    if len(values) == in_chans:
        return values
    return values.mean().repeat(in_chans)
