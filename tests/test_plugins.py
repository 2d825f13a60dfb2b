"""One's own code in a spec: a plain nn.Module, a timm model object, a factory, an albumentations Compose, a
torchvision transform, a loss function, an optimizer and a scheduler factory, a scikit-learn splitter and a
callback, each trained end to end on the digits data, keyed by its code, and refused with the expected shape
when it is something else."""
from __future__ import annotations

import json
import shutil

import albumentations as A
import numpy as np
import pytest
import timm
import torch
from sklearn.model_selection import GroupKFold, ShuffleSplit
from torch import nn
from torchvision.transforms import v2

from competition.errors import ConfigError, DataError
from competition.experiment import Budget, Experiment
from competition.metrics import higher_is_better, register_metric
from competition.models import create_model
from competition.runner import RunContext, run
from competition.store import Store
from competition.train import Callback

TINY = Budget("tiny", max_train=600, max_epochs=3)
BASE = Experiment("plug", data="digits", model="rescnn", model_kw={"width": 4}, epochs=3, batch_size=32,
                  cv="stratified:2", lr=1e-2)


def trained(spec: Experiment, data_root, store=None):
    return run(spec, TINY, RunContext(store=store, data_root=data_root, progress_file=False))


def logits_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10))


def test_a_plain_module_mapping_to_logits_trains_as_it_is(data_root):
    result = trained(BASE.with_(name="plain", model=logits_net(), model_kw={}), data_root)
    assert result.oof_probs.shape[1] == 10 and result.score("accuracy") > 0.5  # chance: 0.1
    assert result.spec["model"].startswith("Sequential#")


def test_a_backbone_of_features_gets_a_head_and_a_timm_object_trains(data_root):
    backbone = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU())  # (B, 6, H, W): pooled, then a head
    model = create_model(Experiment("b", data="digits", model=backbone).model, 10, in_chans=1, input_size=(8, 8))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10) and isinstance(model.head, nn.Linear)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=0, in_chans=1)
    result = trained(BASE.with_(name="timm-object", model=net, model_kw={}, image_size=32), data_root)
    assert result.oof_probs.shape == (len(result.y), 10)


def test_a_factory_is_called_with_the_task_and_its_keywords(data_root):
    seen = {}

    def factory(num_classes, in_chans, hidden=4):
        seen.update(num_classes=num_classes, in_chans=in_chans, hidden=hidden)
        return nn.Sequential(nn.Flatten(), nn.Linear(64 * in_chans, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    trained(BASE.with_(name="factory", model=factory, model_kw={"hidden": 12}), data_root)
    assert seen == {"num_classes": 10, "in_chans": 1, "hidden": 12}


def test_augmentation_objects_train_and_are_seeded(data_root):
    compose = A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-10, 10), p=0.5)])
    first = trained(BASE.with_(name="albu", augmentation=compose), data_root)
    again = trained(BASE.with_(name="albu", augmentation=compose), data_root)
    assert np.array_equal(first.oof_probs, again.oof_probs)
    trained(BASE.with_(name="tv", augmentation=v2.RandomHorizontalFlip()), data_root)
    trained(BASE.with_(name="fn", augmentation=lambda image: image[:, ::-1]), data_root)


def test_a_loss_function_an_optimizer_and_a_scheduler_factory_train(data_root):
    calls = []

    def my_loss(logits, targets):
        calls.append(1)
        return nn.functional.cross_entropy(logits, targets)

    spec = BASE.with_(name="own-train", loss=my_loss,
                      optimizer=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
                      scheduler=lambda optimizer, total_steps: torch.optim.lr_scheduler.LinearLR(
                          optimizer, 1.0, 0.1, total_iters=total_steps), lr=0.05)
    result = trained(spec, data_root)
    assert calls and np.isfinite(result.score())


def test_a_sklearn_splitter_and_a_callback_train(data_root):
    stops = []

    class StopAfterOne(Callback):
        def on_epoch_end(self, state, row, cfg):
            stops.append(row["epoch"])
            return True

    result = trained(BASE.with_(name="gkf", cv=GroupKFold(n_splits=3), callbacks=(StopAfterOne(),)), data_root)
    assert len(result.folds) == 3 and set(stops) == {1}
    assert all(len(f["history"]) == 1 for f in result.folds)


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored:UserWarning")
def test_a_splitter_that_validates_a_row_twice_is_named_before_anything_trains(data_root):
    epochs = []

    class CountEpochs(Callback):
        def on_epoch_end(self, state, row, cfg):
            epochs.append(row["epoch"])

    spec = BASE.with_(name="ss", cv=ShuffleSplit(n_splits=3, test_size=0.5, random_state=0),
                      callbacks=(CountEpochs(),))
    with pytest.raises(DataError, match=r"ss: \d+ train row\(s\) are validated by more than one fold.*ShuffleSplit"):
        trained(spec, data_root)
    assert epochs == []  # it failed only after every fold had trained


def test_a_registered_metric_with_its_direction_scores_a_run(data_root, tmp_path):
    register_metric("error_rate", lambda y, pred: float((y != pred).mean()), higher_is_better=False, needs="labels")
    assert higher_is_better("error_rate") is False
    comp = tmp_path / "mine"
    shutil.copytree(data_root / "digits", comp)
    config = json.loads((comp / "competition.json").read_text())
    (comp / "competition.json").write_text(json.dumps({**config, "metric": "error_rate"}))
    result = trained(BASE.with_(name="err", data=str(comp)), data_root)
    assert result.metric == "error_rate" and 0 <= result.score() <= 1
    assert np.isclose(result.score(), 1 - result.score("accuracy"))

@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "error_rate"])
def test_a_competition_scored_by_a_metric_outside_the_eval_pair_is_reported_stored_and_submitted(
        data_root, tmp_path, capsys, metric):
    """Folds, epochs and eval were scored on accuracy and macro F1 alone: the gaps, the run report and the store
    listing failed with KeyError on the competition's own metric, so `submit` found no readable result."""
    from competition.cli import main as cli
    from competition.data import load_competition
    from competition.report import write_run_report
    from competition.scoring import score_eval
    register_metric("error_rate", lambda y, pred: float((y != pred).mean()), higher_is_better=False, needs="labels")
    comp = tmp_path / "mine"
    shutil.copytree(data_root / "digits", comp)
    config = json.loads((comp / "competition.json").read_text())
    (comp / "competition.json").write_text(json.dumps({**config, "metric": metric}))
    store = Store(tmp_path / "runs")
    result = score_eval(trained(BASE.with_(name="m", data=str(comp)), data_root, store), load_competition(comp))
    assert len(result.fold_scores()) == 2 and np.isfinite(result.gap()) and metric in result.eval_metrics
    assert {f"val_{metric}", "val_accuracy"} <= set(result.folds[0]["history"][0])  # every epoch, for a search
    assert (write_run_report(result, tmp_path / "report") / "report.md").exists()
    assert [run["name"] for run in store.runs() if "damaged" not in run] == ["m"]
    assert cli(["submit", str(comp), "--runs-dir", str(store.root), "--result", "m",
                "--out", str(tmp_path / "s.csv")]) == 0, capsys.readouterr().err



@pytest.mark.parametrize("field, value, expected", [
    ("model", 3, "an nn.Module"),
    ("augmentation", 5, "a callable on one H x W x C uint8 image"),
    ("loss", "nope", "unknown loss"),
    ("loss", 1.5, "a callable"),
    ("cv", object(), "a scikit-learn splitter"),
    ("callbacks", (object(),), "on_epoch_end"),
])
def test_an_object_of_the_wrong_shape_is_refused_at_construction(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        BASE.with_(**{field: value})


def test_an_edited_object_retrains_and_an_unchanged_one_is_served(data_root, tmp_path):
    store = Store(tmp_path / "runs")
    net = logits_net()
    first = trained(BASE.with_(name="obj", model=net, model_kw={}), data_root, store)
    assert trained(BASE.with_(name="obj", model=net, model_kw={}), data_root, store).provenance.cache_hit
    with torch.no_grad():
        net[0].weight.mul_(2)  # other initial weights: another model
    assert not trained(BASE.with_(name="obj", model=net, model_kw={}), data_root, store).provenance.cache_hit
    assert first.key


def test_augmentation_steps_may_be_a_list_as_well_as_a_tuple():
    steps = [("flip", {"p": 0.5})]
    assert BASE.with_(augmentation=steps).augmentation == (("flip", {"p": 0.5}),)
