"""The fast recipe's parts, each on its own: SpeedNet's whitening stem and dirac init, the learning
rate of norm parameters, Lookahead, and alternating flip (scikit-learn's digits, tiny and offline)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from competition.augment import create_augmentation
from competition.data import CachedDataset, prepare
from competition.errors import ConfigError
from competition.experiment import Budget, Experiment
from competition.models import create_model
from competition.runner import RunContext, run
from competition.train import TrainConfig, fit, seed_everything
from competition.train.optim import Lookahead, create_optimizer, create_scheduler
from fixtures.models import FAST


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    return images, d.target


def speednet(**kw):
    return create_model("speednet", 10, in_chans=1, widths=(16, 32), **kw)  # 8 px digits: two groups


def history_numbers(result):
    return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in result.history]


# --- SpeedNet -----------------------------------------------------------------------------------
def test_the_whitening_stem_decorrelates_patches_of_images_it_did_not_see(digits):
    images, _ = digits
    model = speednet()
    model.fit_to_images(images[:1000])
    held_out = model.normalize(torch.from_numpy(images[1000:]).permute(0, 3, 1, 2))
    with torch.no_grad():  # the first half of the filters; the second half is their negation
        out = nn.functional.conv2d(held_out, model.backbone.whiten.weight[:4].float())
    flat = out.permute(0, 2, 3, 1).reshape(-1, 4).double()
    covariance = (flat.T @ flat / len(flat)).numpy()
    assert np.allclose(covariance, np.eye(4), atol=0.15), covariance.round(3)
    assert torch.equal(model.backbone.whiten.weight[4:], -model.backbone.whiten.weight[:4])


def test_the_whitening_filters_stay_frozen_in_training_and_are_fitted_from_the_fold(digits):
    images, labels = digits
    cfg = TrainConfig(epochs=1, batch_size=64, lr=1e-2, optimizer="sgd", scheduler="none", metrics=())
    seed_everything(0)
    model = speednet()
    fit(model, CachedDataset(images[:600], labels[:600]), None, cfg, progress_file=False)
    fitted_alone = speednet()
    fitted_alone.fit_to_images(images[:600])  # what fit set the filters from: the training rows
    assert torch.equal(model.backbone.whiten.weight, fitted_alone.backbone.whiten.weight)
    assert not model.backbone.whiten.weight.requires_grad

    seed_everything(0)
    plain = speednet(whiten=False)
    before = plain.backbone.whiten.weight.detach().clone()
    fit(plain, CachedDataset(images[:600], labels[:600]), None, cfg, progress_file=False)
    assert plain.backbone.whiten.weight.requires_grad and not torch.equal(before, plain.backbone.whiten.weight)


def test_dirac_init_makes_each_convolution_start_as_the_identity_on_its_inputs():
    torch.manual_seed(0)
    conv = speednet(dirac=True).backbone.groups[0][4]  # the second conv of the first group: 16 -> 16
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        assert torch.allclose(conv(x), x)
        assert not torch.allclose(speednet(dirac=False).backbone.groups[0][4](x), x)
    widening = speednet(dirac=True).backbone.groups[1][0]  # 16 -> 32: identity on the first 16 outputs
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        assert torch.allclose(widening(x)[:, :16], x)


def test_speednet_learns_digits_and_only_batchnorm_biases_train(digits):
    images, labels = digits
    cfg = TrainConfig(epochs=4, batch_size=64, lr=0.05, optimizer="sgd", scheduler="onecycle",
                      loss="label_smoothing", optimizer_kw={"norm_lr_mult": 8.0, "lookahead_steps": 5})
    seed_everything(0)
    result = fit(speednet(), CachedDataset(images[:1200], labels[:1200]), CachedDataset(images[1200:], labels[1200:]),
                 cfg, progress_file=False)
    # measured: 0.95 val accuracy; chance is 0.1
    assert result.history[-1]["val_accuracy"] > 0.8
    norms = [m for m in result.model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(not m.weight.requires_grad and torch.all(m.weight == 1) for m in norms)


def test_speednet_rejects_unknown_keywords_and_pretrained_weights():
    with pytest.raises(ConfigError, match=r"speednet: unknown keyword\(s\) \['width'\]; known keywords: widths"):
        create_model("speednet", 10, in_chans=1, width=8)
    with pytest.raises(ConfigError, match="speednet has no pretrained weights"):
        create_model("speednet", 10, in_chans=1, pretrained="imagenet")


# --- optimizer options ---------------------------------------------------------------------------
def parameter_groups():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    return model, [{"params": list(model.parameters()), "lr": 0.1, "name": "head"}]


def test_norm_lr_mult_scales_only_biases_and_norm_parameters():
    model, groups = parameter_groups()
    optimizer = create_optimizer("sgd", groups, 0.1, norm_lr_mult=64.0)
    by_lr = {group["lr"]: group for group in optimizer.param_groups}
    assert set(by_lr) == {0.1, 6.4}
    assert all(p.ndim > 1 for p in by_lr[0.1]["params"]) and all(p.ndim == 1 for p in by_lr[6.4]["params"])
    assert by_lr[6.4]["weight_decay"] == 0.0
    # the default leaves the groups as they were
    plain = create_optimizer("sgd", parameter_groups()[1], 0.1)
    assert [g["lr"] for g in plain.param_groups] == [0.1, 0.1]


def quadratic_steps(optimizer, params, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        sum(((p - 3.0) ** 2).sum() for p in params).backward()
        optimizer.step()
    return [p.detach().clone() for p in params]


def test_lookahead_moves_the_slow_weights_alpha_of_the_way_every_k_steps():
    model, groups = parameter_groups()
    start = [p.detach().clone() for p in model.parameters()]
    inner_only = quadratic_steps(torch.optim.SGD(groups, lr=0.1), list(model.parameters()), 2)
    model, groups = parameter_groups()
    lookahead = Lookahead(torch.optim.SGD(groups, lr=0.1), steps=2, alpha=0.5)
    after = quadratic_steps(lookahead, list(model.parameters()), 2)
    for begin, fast, synced in zip(start, inner_only, after):
        assert torch.allclose(synced, begin + 0.5 * (fast - begin))
    # alpha = 1 is the inner optimizer itself (to rounding: slow + (fast - slow))
    model, groups = parameter_groups()
    same = quadratic_steps(Lookahead(torch.optim.SGD(groups, lr=0.1), steps=2, alpha=1.0), list(model.parameters()), 4)
    model, groups = parameter_groups()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(same, quadratic_steps(torch.optim.SGD(groups, lr=0.1),
                                                                        list(model.parameters()), 4)))


def test_a_scheduler_steers_the_optimizer_inside_lookahead():
    _, groups = parameter_groups()
    optimizer = create_optimizer("sgd", groups, 0.1, lookahead_steps=5)
    scheduler = create_scheduler("onecycle", optimizer, epochs=2, steps_per_epoch=10)
    assert isinstance(optimizer, Lookahead)
    before = optimizer.inner.param_groups[0]["lr"]
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.inner.param_groups[0]["lr"] > before  # the one-cycle warm-up reached the inner SGD
    with pytest.raises(ConfigError, match="lookahead: steps=0.5"):
        Lookahead(optimizer.inner, steps=0.5)


def test_a_fit_with_lookahead_resumes_bit_for_bit(digits, tmp_path):
    images, labels = digits
    train, val = CachedDataset(images[:600], labels[:600]), CachedDataset(images[600:800], labels[600:800])
    cfg = lambda epochs: TrainConfig(epochs=epochs, batch_size=64, lr=0.05, optimizer="sgd", scheduler="none",
                                     optimizer_kw={"lookahead_steps": 3}, max_steps_per_epoch=7)
    seed_everything(0)
    straight = fit(speednet(), train, val, cfg(3), progress_file=False)
    seed_everything(0)
    fit(speednet(), train, val, cfg(2), checkpoint_dir=tmp_path, progress_file=False)  # 14 steps: mid-cycle
    resumed = fit(speednet(), train, val, cfg(3), checkpoint_dir=tmp_path, progress_file=False)
    assert history_numbers(resumed) == history_numbers(straight)


def test_an_unknown_optimizer_keyword_fails_when_the_experiment_is_made():
    with pytest.raises(ConfigError, match=r"fast: optimizer_kw has 'lookahead' \(did you mean 'lookahead_steps'\?\), "
                                          "which optimizer 'sgd' does not take; it takes momentum, nesterov"):
        Experiment("fast", optimizer="sgd", optimizer_kw={"lookahead": 5})


# --- alternating flip ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["albumentations", "torchvision"])
def test_alternating_flip_flips_each_image_every_other_epoch(backend):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (200, 8, 8, 1), dtype=np.uint8)
    flips_only = create_augmentation([("alternating_flip", {})], (8, 8), backend, seed=3)
    dataset = CachedDataset(images, np.zeros(200, int), flips_only)
    plain = torch.from_numpy(images).permute(0, 3, 1, 2)

    def flipped_in(epoch):
        flips_only.set_epoch(epoch)
        batch = torch.stack([image for image, _ in dataset.__getitems__(list(range(200)))])
        assert all(torch.equal(b, p) or torch.equal(b, p.flip(-1)) for b, p in zip(batch, plain))
        return np.array([not torch.equal(b, p) for b, p in zip(batch, plain)])

    first = flipped_in(0)
    assert 0.35 < first.mean() < 0.65  # a random half in the first epoch
    assert np.array_equal(flipped_in(1), ~first) and np.array_equal(flipped_in(2), first)
    assert np.array_equal(dataset.__getitems__([5, 2])[0][0], dataset.__getitems__([2, 5])[1][0])  # by row, not slot
    # other steps still run before it, seeded as usual
    cropped = create_augmentation("crop_alternating_flip", (8, 8), backend, seed=3)
    cropped.set_epoch(1)
    out = CachedDataset(images, np.zeros(200, int), cropped).__getitems__(list(range(200)))
    assert sum(not (torch.equal(image, p) or torch.equal(image, p.flip(-1))) for (image, _), p in zip(out, plain)) > 100


def test_alternating_flip_in_fit_is_reproducible(digits):
    images, labels = digits
    make = lambda: CachedDataset(images[:600], labels[:600],  # noqa: E731
                                 create_augmentation("crop_alternating_flip", (8, 8), seed=1))
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, optimizer="sgd", scheduler="none", max_steps_per_epoch=5)
    runs = []
    for _ in range(2):
        seed_everything(0)
        runs.append(history_numbers(fit(speednet(), make(), CachedDataset(images[600:800], labels[600:800]), cfg,
                                        progress_file=False)))
    assert runs[0] == runs[1]


# --- the recipe as a spec ------------------------------------------------------------------------
def test_the_fast_recipe_runs_as_an_experiment_and_learns(tmp_path):
    """fixtures.models.FAST through the runner (every option above at once), shrunk to digits' 8 px."""
    prepare("digits", tmp_path / "data")
    spec = FAST.with_(data="digits", model_kw={**FAST.model_kw, "widths": (16, 32)}, batch_size=64, epochs=4)
    result = run(spec, Budget("tiny", max_train=900), RunContext(data_root=tmp_path / "data", progress_file=False))
    assert result.score("accuracy") > 0.6  # measured 0.78 (flips and 3 px shifts are harsh on 8 px digits); chance 0.1
