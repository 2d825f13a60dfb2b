"""Batched test-time augmentation on tensors (layer 2): every view of a batch in
one forward pass. Applying TTA to a stored Result is competition.posthoc.apply_tta.

Views: "identity", "hflip", "vflip", "shift:N" (four N-pixel shifts), "scale:S"
(zoom by S then back to size), "five_crop:R" (four corners and the centre at
ratio R, resized back). Merges, on probabilities: "mean", "geometric" (log
space, never NaN) and "max". Both are registries: TTA_VIEWS.names(), TTA_MERGES.names().
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data.dataset import make_loader
from .errors import ConfigError
from .registry import TTA_MERGES, TTA_VIEWS


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift by (dy, dx) pixels, filling with zeros (the background)."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def resized_crop(x: torch.Tensor, top: int, left: int, ch: int, cw: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.interpolate(x[..., top : top + ch, left : left + cw], size=(h, w), mode="bilinear", align_corners=False)


@TTA_VIEWS.register("identity")
def identity_view(x: torch.Tensor, arg: str) -> list[torch.Tensor]:
    return [x]


@TTA_VIEWS.register("hflip")
def hflip_view(x: torch.Tensor, arg: str) -> list[torch.Tensor]:
    return [x.flip(-1)]


@TTA_VIEWS.register("vflip")
def vflip_view(x: torch.Tensor, arg: str) -> list[torch.Tensor]:
    return [x.flip(-2)]


@TTA_VIEWS.register("shift")
def shift_views(x: torch.Tensor, arg: str) -> list[torch.Tensor]:
    """Four N-pixel shifts (default 2)."""
    n = int(arg or 2)
    return [shifted(x, dy, dx) for dy, dx in ((n, 0), (-n, 0), (0, n), (0, -n))]


@TTA_VIEWS.register("scale")
def scale_view(x: torch.Tensor, arg: str) -> list[torch.Tensor]:
    """Zoom by S (default 1.1): S >= 1 crops the centre, S < 1 shrinks and pads; back to size."""
    h, w = x.shape[-2:]
    s = float(arg or 1.1)
    if s >= 1:
        ch, cw = round(h / s), round(w / s)
        return [resized_crop(x, (h - ch) // 2, (w - cw) // 2, ch, cw)]
    small = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
    pad_h, pad_w = h - small.shape[-2], w - small.shape[-1]
    return [F.pad(small, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))]


@TTA_VIEWS.register("five_crop")
def five_crop_views(x: torch.Tensor, arg: str) -> list[torch.Tensor]:
    """Four corners and the centre at ratio R (default 0.875), resized back."""
    h, w = x.shape[-2:]
    r = float(arg or 0.875)
    ch, cw = round(h * r), round(w * r)
    corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    return [resized_crop(x, top, left, ch, cw) for top, left in corners]


def expand_view(view: str, x: torch.Tensor) -> list[torch.Tensor]:
    """One view name ("name" or "name:arg") -> the augmented copies of batch x (float, B x C x H x W)."""
    name, _, arg = view.partition(":")
    return TTA_VIEWS.get(name)(x, arg)


def views_of(x: torch.Tensor, views) -> torch.Tensor:
    """All views stacked: (V, B, C, H, W)."""
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    copies = [copy for view in views for copy in expand_view(view, x)]
    for view_copy in copies:
        if view_copy.shape != x.shape:
            raise ConfigError(
                f"TTA views must keep the input shape {tuple(x.shape)}; one gave {tuple(view_copy.shape)}"
            )
    return torch.stack(copies)


TTA_MERGES.register("mean", lambda probs: probs.mean(0))
# normalised geometric mean, computed in log space (never NaN)
TTA_MERGES.register("geometric", lambda probs: torch.softmax(probs.clamp_min(1e-12).log().mean(0), dim=1))


@TTA_MERGES.register("max")
def max_merge(probs: torch.Tensor) -> torch.Tensor:
    top = probs.max(0).values
    return top / top.sum(1, keepdim=True)


def merge(probs: torch.Tensor, how: str) -> torch.Tensor:
    """(V, B, C) -> (B, C)."""
    return TTA_MERGES.get(how)(probs)


def forward_views(model, stacked: torch.Tensor, batched: bool) -> torch.Tensor:
    """(V, B, C, H, W) -> probabilities (V, B, classes)."""
    if batched:  # every view in one forward pass
        v, b = stacked.shape[:2]
        return model(stacked.flatten(0, 1)).float().softmax(1).view(v, b, -1)
    return torch.stack([model(view).float().softmax(1) for view in stacked])  # one pass per view, as ttach does


@torch.inference_mode()
def tta_predict(
    model,
    dataset,
    views=("identity", "hflip"),
    how: str = "mean",
    batch_size: int = 256,
    device: str = "cpu",
    batched: bool = True,
) -> np.ndarray:
    """Class probabilities with TTA. Sets model.eval() and inference mode itself.

    batch_size counts samples per forward pass, views included: one forward of
    11 views x 256 images is slower on a CPU than 11 forwards of 256 (the
    activations leave the cache), so the loader takes batch_size / views images.
    """
    model.eval()
    model.to(device)
    n_views = len(views_of(torch.zeros(1, 1, 8, 8), views)) if batched else 1
    out = []
    for x, _ in make_loader(dataset, max(1, batch_size // n_views)):
        probs = forward_views(model, views_of(x.to(device), views), batched)
        out.append(merge(probs, how).cpu())
    return torch.cat(out).numpy()
