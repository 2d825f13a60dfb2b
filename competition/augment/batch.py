"""Batch mixup and cutmix with soft targets (applied inside the training loop).

Kept instead of timm's Mixup or torchvision's MixUp/CutMix: those draw from numpy's
or torch's global RNG, while this takes the loop's per-epoch seeded Generator, so a
resumed or re-run fold reproduces its mixing bit for bit (tests/test_loop.py)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def as_unit_float(x: torch.Tensor) -> torch.Tensor:
    """Model inputs are uint8 [0, 255] or float [0, 1]; mixing needs the float form."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def mix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    rng: np.random.Generator,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each sample with a shuffled partner; returns (images, soft targets).

    When both alphas are set, each batch uses one of the two with equal odds.
    """
    soft = F.one_hot(y, num_classes).float()
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return x, soft
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or rng.random() < 0.5)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(len(x)))
    if use_cutmix:
        h, w = x.shape[-2:]
        cut_h, cut_w = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually kept
    else:
        x = as_unit_float(x)
        x = x * lam + x[perm] * (1 - lam)
    return x, soft * lam + soft[perm] * (1 - lam)
