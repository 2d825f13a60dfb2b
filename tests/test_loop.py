"""The training loop on scikit-learn's digits (tiny, real, offline)."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from competition.data import CachedDataset
from competition.errors import ConfigError
from competition.experiment import Experiment
from competition.models import create_model
from competition.train import KEPT_WEIGHTS, TrainConfig, TrainingDiverged, fit, predict, seed_everything
from competition.train import loop


@pytest.fixture(scope="module")
def digits_data():
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    return (CachedDataset(images[:1200], d.target[:1200]), CachedDataset(images[1200:], d.target[1200:]))


def small_config(**kw):
    base = dict(epochs=2, batch_size=64, lr=3e-3, scheduler="none", metrics=("accuracy", "macro_f1"),
                max_steps_per_epoch=6)
    return TrainConfig(**{**base, **kw})


def new_model():
    return create_model("rescnn", 10, in_chans=1, width=8)


def test_fit_learns_digits(digits_data):
    train, val = digits_data
    result = fit(new_model(), train, val, small_config(epochs=4, max_steps_per_epoch=None, scheduler="onecycle"),
                 progress_file=False)
    # measured: ~0.9 val accuracy after 4 epochs; 0.6 leaves margin while far above chance (0.1)
    assert result.history[-1]["val_accuracy"] > 0.6
    assert {"epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1",
            "seconds"} <= set(result.history[0])
    probs = predict(result.model, val)
    assert probs.shape == (len(val), 10) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_same_seed_gives_identical_histories(digits_data):
    train, val = digits_data
    strip = lambda h: [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in h]

    def run(seed):
        seed_everything(seed)  # the seed fixes the model's initialisation too
        return fit(new_model(), train, val, small_config(seed=seed, mixup=0.2), progress_file=False)
    a = run(7)
    torch.rand(5)  # whatever happened to the global RNG in between must not matter
    b = run(7)
    assert strip(a.history) == strip(b.history)
    c = run(8)
    assert strip(a.history) != strip(c.history)


def test_nan_loss_names_epoch_and_step(digits_data):
    train, val = digits_data
    images = train.images.astype(np.float32) / 255
    images[64 * 2:] = np.nan  # the third batch is broken
    broken = CachedDataset(images, train.labels.numpy())
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step [1-6]; lower the learning rate"):
        fit(new_model(), broken, None, small_config(max_steps_per_epoch=None), progress_file=False)


class PerSampleLoss(torch.nn.Module):
    def forward(self, logits, targets):
        return torch.nn.functional.cross_entropy(logits, targets, reduction="none")


def detached_loss(logits, targets):
    return torch.nn.functional.cross_entropy(logits, targets).detach()


@pytest.mark.parametrize("loss, message", [
    (PerSampleLoss, r"returned \(64,\) float32 for logits \(64, 10\) float32 and targets \(64,\) int64"),
    (torch.nn.BCEWithLogitsLoss, r"failed on logits \(64, 10\) float32 and targets \(64,\) int64 \(ValueError: Target"),
    (lambda logits, targets: 0.5, "returned float for logits"),
    (detached_loss, "returned a tensor without a gradient"),
], ids=["per-sample", "bce", "float", "detached"])
def test_a_loss_of_ones_own_that_breaks_the_contract_is_named_at_its_first_batch(digits_data, loss, message):
    """Before, torch's own words from deep inside the loop: 'Boolean value of Tensor with more than one value is
    ambiguous' for per-sample losses, 'element 0 of tensors does not require grad' for a detached one."""
    train, val = digits_data
    name = Experiment("own", loss=loss).loss
    with pytest.raises(ConfigError, match=rf"loss '{re.escape(name)}' {message}.*returns the batch's loss as one"
                                          if "gradient" not in message else message):
        fit(new_model(), train, val, small_config(loss=name), progress_file=False)


def test_a_loss_of_one_element_is_one_number(digits_data):
    train, val = digits_data
    name = Experiment("own", loss=lambda logits, targets: torch.nn.functional.cross_entropy(logits, targets)[None]).loss
    assert len(fit(new_model(), train, val, small_config(loss=name), progress_file=False).history) == 2


def test_ones_own_reduce_on_plateau_trains(digits_data):
    """It was stepped after every batch without its figure: a TypeError at the first step."""
    train, val = digits_data
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
    name = Experiment("own", scheduler=lambda optimizer: plateau(optimizer)).scheduler
    result = fit(new_model(), train, val, small_config(scheduler=name), progress_file=False)
    assert len(result.history) == 2


def test_interrupted_run_resumes_from_its_last_checkpoint(digits_data, tmp_path):
    train, val = digits_data
    strip = lambda h: [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in h]
    seed_everything(0)
    straight = fit(new_model(), train, val, small_config(epochs=3), progress_file=False)
    seed_everything(0)
    fit(new_model(), train, val, small_config(epochs=2), checkpoint_dir=tmp_path, progress_file=False)
    messages = []
    resumed = fit(new_model(), train, val, small_config(epochs=3), checkpoint_dir=tmp_path, log=messages.append,
                  progress_file=False)
    assert any("resumed" in m and "after epoch 2" in m for m in messages)
    assert strip(resumed.history) == strip(straight.history)
    assert (tmp_path / KEPT_WEIGHTS).exists()


def test_early_stopping_and_best_checkpoint_by_monitor(digits_data):
    train, val = digits_data
    seed_everything(0)
    config = small_config(epochs=8, lr=0.0, early_stopping=1, keep="best")
    result = fit(new_model(), train, val, config, progress_file=False)
    # with lr=0 the score only drifts; the run stops one stale epoch after its best
    assert len(result.history) < 8 and len(result.history) == result.kept_epoch + 1
    scores = [row["val_macro_f1"] for row in result.history]
    assert result.kept_score == max(scores) == scores[result.kept_epoch - 1]


def test_regularizers_and_options_run(digits_data):
    train, val = digits_data
    cfg = small_config(cutmix=1.0, mixup=0.2, ema_decay=0.9, clip_grad=1.0, channels_last=True,
                       loss="label_smoothing", optimizer="sgd", scheduler="cosine", warmup_epochs=0.5)
    result = fit(new_model(), train, val, cfg, progress_file=False)
    assert np.isfinite([row["val_loss"] for row in result.history]).all()


def test_cpu_bf16_autocast_is_opt_in(digits_data):
    train, val = digits_data
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        with pytest.raises(Exception, match="not supported on this CPU"):
            fit(new_model(), train, val, small_config(amp="bf16", epochs=1), progress_file=False)
    else:
        result = fit(new_model(), train, val, small_config(amp="bf16", epochs=1), progress_file=False)
        assert np.isfinite(result.history[0]["val_loss"])


def test_feature_extract_computes_features_once_and_keeps_backbone(digits_data, monkeypatch):
    train, val = digits_data
    model = new_model()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    calls = []
    real = loop.extract_features
    monkeypatch.setattr(loop, "extract_features", lambda *a: calls.append(1) or real(*a))
    fit(model, train, val, small_config(epochs=3, transfer="feature-extract"), progress_file=False)
    assert len(calls) == 2  # train and val, once each, for all 3 epochs
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


def test_progress_bar_writes_to_the_given_stream(digits_data):
    train, val = digits_data
    stream = io.StringIO()
    fit(new_model(), train, None, small_config(epochs=1), progress_file=stream)
    assert "epoch 1/1" in stream.getvalue()


def test_a_callback_sees_every_epoch_and_may_stop_training(digits_data):
    from competition.train import Callback

    class StopAfterTwo(Callback):
        def __init__(self):
            self.rows = []

        def on_epoch_end(self, state, row, cfg):
            self.rows.append(row)
            return row["epoch"] == 2

    train, val = digits_data
    stopper = StopAfterTwo()
    result = fit(new_model(), train, val, small_config(epochs=5), progress_file=False, callbacks=[stopper])
    assert [row["epoch"] for row in stopper.rows] == [1, 2] and len(result.history) == 2
    assert result.kept_epoch == 2 and result.history[0]["images_per_second"] > 0


def test_a_callback_of_ones_own_with_on_epoch_end_alone_may_stop_training(digits_data):
    """The spec accepts a callback with either hook; the loop called on_step_end on every callback, so one
    with on_epoch_end alone stopped training with an AttributeError at its first step."""
    class StopAtTwo:
        def on_epoch_end(self, state, row, cfg):
            return row["epoch"] >= 2

    train, val = digits_data
    Experiment("own", callbacks=(StopAtTwo(),))
    result = fit(new_model(), train, val, small_config(epochs=4), progress_file=False, callbacks=[StopAtTwo()])
    assert len(result.history) == 2


def test_a_callback_that_answers_other_than_true_or_false_is_named(digits_data):
    """Its answer was taken by its truth: a callback that returned the row it logged stopped every run after the
    first epoch, without a word."""
    class LogsRows:
        def __init__(self):
            self.rows = []

        def on_epoch_end(self, state, row, cfg):
            self.rows.append(row)
            return row

    class GoesOn:
        def on_epoch_end(self, state, row, cfg):
            return np.bool_(False)

    train, val = digits_data
    with pytest.raises(ConfigError, match=r"callback .*LogsRows.on_epoch_end returned dict .*; it returns True to "
                                          "stop training, False or None to go on"):
        fit(new_model(), train, val, small_config(epochs=3), progress_file=False, callbacks=[LogsRows()])
    assert len(fit(new_model(), train, val, small_config(epochs=3), progress_file=False,
                   callbacks=[GoesOn()]).history) == 3


class MomentumSeen:
    """The momentum (Adam's beta1) the optimizer trained with, at the end of each epoch."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, state, row, cfg):
        group = state.optimizer.param_groups[0]
        self.seen.append(group["momentum"] if "momentum" in group else group["betas"][0])


@pytest.mark.parametrize("optimizer, options, chosen", [
    ("sgd", {"momentum": 0.0}, 0.0), ("sgd", {"momentum": 0.5, "nesterov": False}, 0.5),
    ("adamw", {"betas": (0.6, 0.999)}, 0.6),
])
def test_a_momentum_the_spec_chooses_is_the_momentum_that_trains(digits_data, optimizer, options, chosen):
    """onecycle cycled the momentum between 0.95 and 0.85 whatever the spec asked: SGD without momentum trained
    with one, and a search over momentum scored one run many times. At its default it still cycles."""
    train, val = digits_data
    chosen_run, default_run = MomentumSeen(), MomentumSeen()
    fit(new_model(), train, val, small_config(epochs=3, scheduler="onecycle", optimizer=optimizer,
                                              optimizer_kw=options), progress_file=False, callbacks=[chosen_run])
    assert chosen_run.seen == [chosen] * 3
    fit(new_model(), train, val, small_config(epochs=3, scheduler="onecycle", optimizer=optimizer),
        progress_file=False, callbacks=[default_run])
    assert len(set(default_run.seen)) > 1 and all(0.85 <= m <= 0.95 for m in default_run.seen)


def test_ones_own_optimizer_keeps_its_momentum_under_onecycle(digits_data):
    """Cycling replaced one's own optimizer's momentum, and torch refused one that has none (Adagrad)."""
    train, val = digits_data
    for factory, momentum in ((lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.3), 0.3),
                              (lambda params, lr: torch.optim.Adagrad(params, lr=lr), None)):
        name = Experiment("own", optimizer=factory).optimizer
        seen = MomentumSeen() if momentum is not None else None
        fit(new_model(), train, val, small_config(epochs=2, scheduler="onecycle", optimizer=name),
            progress_file=False, callbacks=[seen] if seen else [])
        assert seen is None or seen.seen == [momentum] * 2


def test_ones_own_optimizer_on_other_parameters_or_at_its_own_rate_is_named(digits_data):
    """An optimizer built on a notebook's `model.parameters()` stepped a model no unit trains (each trains its
    own copy), so the model never learned; one that fixed its own lr trained at the spec's lr without a word."""
    train, val = digits_data
    elsewhere = new_model()
    for factory, message in (
        (lambda params, lr: torch.optim.SGD(elsewhere.parameters(), lr=lr), r"holds \d+ parameter\(s\) it was not "
                                                                             "given: build it on the `params`"),
        (lambda params, lr: torch.optim.SGD(params, lr=0.1), r"set lr=0.1, but it was given lr=0.003, and the given "
                                                             "one trains.*Pass `lr` on"),
    ):
        name = Experiment("own", optimizer=factory).optimizer
        with pytest.raises(ConfigError, match=message):
            fit(new_model(), train, val, small_config(optimizer=name), progress_file=False)
    subset = Experiment("own", optimizer=lambda params, lr: torch.optim.SGD(params[-1:], lr=lr)).optimizer
    assert fit(new_model(), train, val, small_config(optimizer=subset), progress_file=False).history


def test_one_cycle_works_on_a_run_of_a_handful_of_steps():
    from competition.train import create_optimizer, create_scheduler

    for epochs, steps in ((2, 2), (1, 1), (1, 2), (1, 3), (1, 5)):  # (1, 2): torch divided by zero
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = create_optimizer("sgd", [{"params": [param]}], lr=0.1)
        scheduler = create_scheduler("onecycle", optimizer, epochs=epochs, steps_per_epoch=steps)
        for _ in range(epochs * steps):
            optimizer.step()
            scheduler.step()
            assert 0 < optimizer.param_groups[0]["lr"] <= 0.1


def test_a_long_epoch_logs_at_least_once_a_minute_and_each_epoch_gives_an_eta(digits_data):
    from competition.train import LogEpoch

    train, val = digits_data
    lines = []
    every_step = LogEpoch(lines.append, heartbeat_seconds=0.0)  # a minute, shrunk to nothing
    fit(new_model(), train, val, small_config(epochs=2), progress_file=False, callbacks=[every_step])
    assert any(line.startswith("epoch=1 step=2/") for line in lines)
    assert any(" eta=" in line for line in lines)


def hand_frozen_net(num_classes, in_chans, freeze_head=False):
    """Feature extraction written by hand, as the PyTorch tutorials do: the backbone's requires_grad off."""
    backbone = torch.nn.Sequential(torch.nn.Conv2d(in_chans, 8, 3, padding=1), torch.nn.ReLU(),
                                   torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    net = torch.nn.Sequential(backbone, torch.nn.Linear(8, num_classes))
    for p in (net if freeze_head else backbone).parameters():
        p.requires_grad_(False)
    return net


@pytest.mark.parametrize("transfer", ["scratch", "finetune"])
def test_what_ones_own_model_froze_stays_frozen_through_training(digits_data, transfer):
    """apply_transfer and finish() set every parameter trainable, so a backbone the user had frozen was
    trained (fine-tuning reported as feature extraction) without a word."""
    train, val = digits_data
    model = create_model(Experiment("hand-frozen", model=hand_frozen_net).model, 10, in_chans=1, input_size=(8, 8))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit(model, train, val, small_config(transfer=transfer), progress_file=False)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"backbone.1.weight", "backbone.1.bias"}  # the user's Linear head alone
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == {"backbone.0.0.weight",
                                                                                 "backbone.0.0.bias"}


def test_a_model_with_nothing_to_train_is_named():
    spec = Experiment("all-frozen", model=lambda num_classes, in_chans: hand_frozen_net(num_classes, in_chans, True))
    model = create_model(spec.model, 10, in_chans=1, input_size=(8, 8))
    with pytest.raises(ConfigError, match="no parameter trains.*requires_grad=False"):
        loop.apply_transfer(model, "scratch", lr=1e-3)
