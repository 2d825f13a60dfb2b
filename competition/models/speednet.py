"""SpeedNet: a small VGG-like CNN built for few epochs, with the CIFAR-10 speedrun techniques as options.

    whitening stem -> 3 conv groups (conv, max-pool, BN, GELU, conv, BN, GELU) -> global max pool

Options, each switchable so an experiment can prove it:
- whiten: the first convolution is frozen and set, before training, from the training images'
  patch statistics: one filter per eigenvector of the patch covariance, scaled by 1/sqrt(eigenvalue)
  and paired with its negation, so the layer decorrelates its input (PCA whitening of 2x2 patches).
  Off: a trainable convolution of the same shape.
- dirac: every 3x3 convolution starts as the identity on its first input channels (its other
  filters keep the default init), so a deep stack starts near a shallow one.
- bn_momentum: BatchNorm's running-statistics momentum; few epochs need fast statistics.
BatchNorm weights are frozen at 1 (only the biases train), as in the speedruns: with few steps the
scale is redundant with the next convolution's weights. A larger learning rate for those biases is an
optimizer option (`norm_lr_mult`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def batch_norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, momentum=momentum)
    norm.weight.requires_grad_(False)
    return norm


class ConvGroup(nn.Sequential):
    def __init__(self, cin: int, cout: int, bn_momentum: float):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.MaxPool2d(2),
            batch_norm(cout, bn_momentum),
            nn.GELU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            batch_norm(cout, bn_momentum),
            nn.GELU(),
        )


class SpeedNet(nn.Module):
    whiten: nn.Conv2d

    def __init__(
        self,
        in_chans: int = 1,
        widths: tuple[int, ...] = (64, 128, 256),
        whiten: bool = True,
        whiten_kernel: int = 2,
        dirac: bool = True,
        bn_momentum: float = 0.4,
        eps: float = 5e-4,
    ):
        super().__init__()
        if not 0 < bn_momentum <= 1:
            raise ConfigError(f"speednet: bn_momentum={bn_momentum!r}; use a value in (0, 1]")
        stem_width = 2 * in_chans * whiten_kernel**2
        self.whiten = nn.Conv2d(in_chans, stem_width, whiten_kernel, padding=0, bias=True)
        self.whiten_enabled, self.eps = whiten, eps
        if whiten:
            self.whiten.weight.requires_grad_(False)
        cin, groups = stem_width, []
        for width in widths:
            groups.append(ConvGroup(cin, width, bn_momentum))
            cin = width
        self.groups = nn.Sequential(*groups)
        self.pool = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.num_features = cin
        if dirac:
            for module in self.groups.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.dirac_(module.weight.data[: module.in_channels])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.groups(nn.functional.gelu(self.whiten(x))))

    def fixed_parameters(self) -> list[torch.Tensor]:
        """What never trains: the whitening filters (when on) and every BatchNorm weight."""
        norms: list[torch.Tensor] = [m.weight for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        return ([self.whiten.weight] if self.whiten_enabled else []) + norms

    def stage_list(self) -> list[nn.Module]:
        return [self.whiten, *self.groups]

    @torch.no_grad()
    def fit_to_images(self, x: torch.Tensor) -> None:
        """Set the whitening filters from normalised training images (B, C, H, W); a no-op when off."""
        if not self.whiten_enabled:
            return
        k = self.whiten.kernel_size[0]
        patches = nn.functional.unfold(x.double(), k).transpose(1, 2).reshape(-1, x.shape[1] * k * k)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = eigenvectors.T / (eigenvalues.clamp_min(0) + self.eps).sqrt()[:, None]
        filters = filters.reshape(-1, x.shape[1], k, k)
        self.whiten.weight.copy_(torch.cat([filters, -filters]).float())
