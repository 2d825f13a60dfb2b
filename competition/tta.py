"""Batched test-time augmentation: every view of a batch in one forward pass.

Views: "identity", "hflip", "shift:N" (four N-pixel shifts), "scale:S" (zoom by S
then back to size), "five_crop:R" (four corners and the centre at ratio R,
resized back). Merges, on probabilities: "mean", "geometric" (log space, never
NaN) and "max".
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data.dataset import make_loader
from .errors import ConfigError

MERGES = ("mean", "geometric", "max")


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift by (dy, dx) pixels, filling with zeros (the background)."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def resized_crop(x: torch.Tensor, top: int, left: int, ch: int, cw: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.interpolate(x[..., top:top + ch, left:left + cw], size=(h, w), mode="bilinear", align_corners=False)


def expand_view(view: str, x: torch.Tensor) -> list[torch.Tensor]:
    """One view name -> the augmented copies of batch x (float, B x C x H x W)."""
    h, w = x.shape[-2:]
    name, _, arg = view.partition(":")
    if name == "identity":
        return [x]
    if name == "hflip":
        return [x.flip(-1)]
    if name == "shift":
        n = int(arg or 2)
        return [shifted(x, dy, dx) for dy, dx in ((n, 0), (-n, 0), (0, n), (0, -n))]
    if name == "scale":
        s = float(arg or 1.1)
        if s >= 1:  # zoom in: centre crop of 1/s, resized back
            ch, cw = round(h / s), round(w / s)
            return [resized_crop(x, (h - ch) // 2, (w - cw) // 2, ch, cw)]
        small = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        pad_h, pad_w = h - small.shape[-2], w - small.shape[-1]
        return [F.pad(small, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))]
    if name == "five_crop":
        r = float(arg or 0.875)
        ch, cw = round(h * r), round(w * r)
        corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
        return [resized_crop(x, t, l, ch, cw) for t, l in corners]
    raise ConfigError(f"unknown TTA view {view!r}; known: identity, hflip, shift:N, scale:S, five_crop:R")


def views_of(x: torch.Tensor, views) -> torch.Tensor:
    """All views stacked: (V, B, C, H, W)."""
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    copies = [copy for view in views for copy in expand_view(view, x)]
    for view_copy in copies:
        if view_copy.shape != x.shape:
            raise ConfigError(f"TTA views must keep the input shape {tuple(x.shape)}; one gave {tuple(view_copy.shape)}")
    return torch.stack(copies)


def merge(probs: torch.Tensor, how: str) -> torch.Tensor:
    """(V, B, C) -> (B, C)."""
    if how == "mean":
        return probs.mean(0)
    if how == "geometric":
        log_mean = probs.clamp_min(1e-12).log().mean(0)
        return torch.softmax(log_mean, dim=1)  # normalised geometric mean, computed in log space
    if how == "max":
        top = probs.max(0).values
        return top / top.sum(1, keepdim=True)
    raise ConfigError(f"unknown TTA merge {how!r}; known: {list(MERGES)}")


def forward_views(model, stacked: torch.Tensor, batched: bool) -> torch.Tensor:
    """(V, B, C, H, W) -> probabilities (V, B, classes)."""
    if batched:  # every view in one forward pass
        v, b = stacked.shape[:2]
        return model(stacked.flatten(0, 1)).float().softmax(1).view(v, b, -1)
    return torch.stack([model(view).float().softmax(1) for view in stacked])  # one pass per view, as ttach does


@torch.inference_mode()
def tta_predict(model, dataset, views=("identity", "hflip"), how: str = "mean", batch_size: int = 256,
                device: str = "cpu", batched: bool = True) -> np.ndarray:
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


def apply_tta(result, views=("identity", "hflip"), how: str = "mean", store=None, data_root=None,
              device: str = "cpu", name: str | None = None):
    """A new Result: the stored fold models of `result` re-predicted with TTA (no retraining)."""
    from dataclasses import replace

    from .cv import make_folds
    from .data import CachedDataset
    from .experiment import EVAL_METRICS, Experiment, eval_answers, get_budget, prepare_data
    from .metrics import compute_metrics
    from .models import create_model

    if store is None or not result.key:
        raise ConfigError(f"{result.name}: TTA after training needs the fold weights from the store; "
                          "run the experiment with a store")
    spec = {k: v for k, v in result.spec.items()}
    spec["augmentation"] = tuple(spec["augmentation"]) if isinstance(spec["augmentation"], list) else spec["augmentation"]
    experiment = Experiment(name=result.name, **{**spec, "tta": ()})
    data = prepare_data(experiment, get_budget(result.budget), data_root)
    oof = np.zeros_like(result.oof_probs)
    position = {row: i for i, row in enumerate(result.oof_index)}
    eval_probs = []
    for fold, (_, val_idx) in enumerate(make_folds(experiment, data.table)):
        weights = store.weights_path(result.key, fold)
        model = create_model(experiment.model, len(result.class_names), in_chans=data.images.shape[3],
                             pretrained=weights, **experiment.model_kw)
        rows = [position[r] for r in val_idx if r in position]
        probs = tta_predict(model, CachedDataset(data.images[val_idx]), views, how, device=device)
        if experiment.cv_scheme()[0] == "bootstrap":
            raise ConfigError("apply_tta does not support bagged results; set tta in the Experiment instead")
        oof[rows] = probs
        eval_probs.append(tta_predict(model, CachedDataset(data.eval_images), views, how, device=device))
    answers = eval_answers(data.competition)
    mean_eval = np.mean(eval_probs, 0)
    return replace(result, name=name or f"{result.name}+tta", oof_probs=oof, eval_probs=mean_eval,
                   spec={**result.spec, "tta": list(views), "tta_merge": how}, cache_hit=False,
                   eval_metrics=compute_metrics(answers, mean_eval, EVAL_METRICS) if answers is not None else None)
