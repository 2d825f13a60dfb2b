"""Nothing already written is lost or corrupted, and no stored number is served for something else:
submissions published only once valid, a history that survives foreign lines, one damaged store entry
that harms no other, a full disk named, a store key that covers the task and the user's code but not
where the competition lies."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import types
import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from competition.cli import main as cli
from competition.errors import ConfigError
from competition.experiment import Budget, Experiment
from competition.files import DiskFullError, atomic_write
from competition.report import HistoryWarning, append_history
from competition.runner import RunContext, run
from competition.store import Store
from competition.tracking import check_uri

TINY = Budget("tiny", max_train=120, max_epochs=1)
SPEC = Experiment("digits-lost", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=32,
                  cv="stratified:2")


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("runs"))
    return run(SPEC, TINY, RunContext(store=store, data_root=data_root, progress_file=False)), store


def submit(data_root, store, *args) -> int:
    return cli(["submit", "digits", "--data-dir", str(data_root), "--runs-dir", str(store.root), *args])


# --- reports ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", "/abs/comp", "fold/1", "a\\b"])
def test_a_name_that_is_not_one_folder_name_is_refused_before_any_folder_is_replaced(trained, tmp_path, name):
    """A run's report folder (reports/runs/<name>) is replaced whole: '..' replaced reports/ itself with one
    run's report, and an absolute name (an experiment named after its data directory) replaced that folder."""
    from competition.ensemble import create_ensemble
    from competition.report import run_folder, write_run_report
    result, _ = trained
    with pytest.raises(ConfigError, match=re.escape(f"Experiment.name={name!r}: a name is the name of its report")):
        Experiment(name)
    with pytest.raises(ConfigError, match="the ensemble's name"):
        create_ensemble("soft_vote", [result, result], name=name)
    kept = tmp_path / "reports" / "leaderboard.md"
    kept.parent.mkdir()
    kept.write_text("the user's leaderboard")
    with pytest.raises(ConfigError, match="the run's name"):
        write_run_report(result, run_folder(tmp_path / "reports", name))
    assert kept.read_text() == "the user's leaderboard"
    assert write_run_report(result, run_folder(tmp_path / "reports", "ok name+1")).parent == tmp_path / "reports/runs"


# --- submissions ---------------------------------------------------------------------------------------
def test_a_submission_that_fails_a_check_leaves_the_old_file_byte_identical(trained, data_root, tmp_path, capsys):
    _, store = trained
    old = tmp_path / "old.csv"
    old.write_bytes(b"ImageID,ans\nsomething the user keeps,1\n")
    before = old.read_bytes()
    # the tiny model's class mix is far from train's: with --strict that stops publication
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(old), "--strict", "--max-shift", "0") == 1
    assert "Nothing was written (--strict)" in capsys.readouterr().err and old.read_bytes() == before
    # a previous file that does not exist stops it before anything is written
    fresh = tmp_path / "fresh.csv"
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(fresh), "--previous",
                  str(tmp_path / "missing.csv")) == 1
    assert not fresh.exists()


@pytest.mark.parametrize("target", ["train/train.csv", "eval/info.csv", "competition.json", "an image", "a folder"])
def test_submit_never_writes_over_the_competitions_own_files(trained, data_root, tmp_path, capsys, target):
    """--out train/train.csv replaced the labels with the submission (and eval/info.csv the eval ids), with
    'wrote ... valid' printed; a folder gave the OS's 'Is a directory' after every check had passed."""
    _, store = trained
    copy = shutil.copytree(data_root / "digits", tmp_path / "digits")  # the same content: the result is its
    out = {"an image": next((copy / "train").rglob("*.png")), "a folder": copy / "train"}.get(target, copy / target)
    files = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    rc = cli(["submit", str(copy), "--runs-dir", str(store.root), "--result", SPEC.name, "--out", str(out)])
    error = capsys.readouterr().err
    assert rc == 1 and ("is a folder" if target == "a folder" else "is a file the competition") in error
    assert all(p.read_bytes() == data for p, data in files.items())


def test_previous_equal_to_out_is_refused(trained, data_root, tmp_path, capsys):
    _, store = trained
    out = tmp_path / "s.csv"
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(out)) == 0
    before = out.read_bytes()
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(out), "--previous", str(out)) == 1
    assert "is the --out file" in capsys.readouterr().err and out.read_bytes() == before


def test_a_weak_submission_warns_and_is_written_and_strict_force_publishes_it(trained, data_root, tmp_path, capsys):
    _, store = trained
    out = tmp_path / "weak.csv"
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(out), "--max-shift", "0") == 0
    assert "warning: the predicted class mix" in capsys.readouterr().err and out.exists()
    out.unlink()
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(out), "--max-shift", "0", "--strict",
                  "--force") == 0
    assert out.exists()


def test_submit_refuses_a_result_trained_on_other_content(trained, data_root, tmp_path, capsys):
    _, store = trained
    copy = tmp_path / "digits-copy"
    shutil.copytree(data_root / "digits", copy)
    assert cli(["submit", str(copy), "--runs-dir", str(store.root), "--result", SPEC.name,
                "--out", str(tmp_path / "a.csv")]) == 0, "moving the competition changes nothing"
    first_eval = sorted((copy / "eval" / "images").iterdir())[0]
    first_eval.write_bytes((copy / "eval" / "images" / sorted(p.name for p in (copy / "eval" / "images").iterdir())[1]
                            ).read_bytes())
    out = tmp_path / "b.csv"
    assert cli(["submit", str(copy), "--runs-dir", str(store.root), "--result", SPEC.name, "--out", str(out)]) == 1
    assert "was trained on competition content" in capsys.readouterr().err and not out.exists()


# --- the store and the history ------------------------------------------------------------------------
def test_one_damaged_entry_is_listed_and_harms_no_other(trained, data_root, tmp_path, capsys):
    result, store = trained
    runs = tmp_path / "runs"
    shutil.copytree(store.root, runs)
    damaged = Store(runs).entry(result.key) / "result.json"
    meta = json.loads(damaged.read_text())
    del meta["folds"]
    other = run(SPEC.with_(name="other", seed=1), TINY, RunContext(store=Store(runs), data_root=data_root,
                                                                   progress_file=False))
    damaged.write_text(json.dumps(meta))
    assert cli(["runs", "--runs-dir", str(runs)]) == 0
    printed = capsys.readouterr().out
    assert "(damaged entry)" in printed and "KeyError" in printed and "other" in printed
    assert cli(["submit", "digits", "--data-dir", str(data_root), "--runs-dir", str(runs), "--result", "other",
                "--out", str(tmp_path / "s.csv")]) == 0
    assert other.key != result.key


def test_runs_and_submit_create_nothing_in_the_store(trained, data_root, tmp_path, monkeypatch):
    _, store = trained
    before = sorted(str(p) for p in store.root.rglob("*"))
    monkeypatch.setattr("competition.store.writable_folder", lambda *a: pytest.fail("a read-only use probed writing"))
    assert cli(["runs", "--runs-dir", str(store.root)]) == 0
    assert submit(data_root, store, "--result", SPEC.name, "--out", str(tmp_path / "s.csv")) == 0
    assert sorted(str(p) for p in store.root.rglob("*")) == before


def test_reports_are_rebuilt_from_a_store_that_is_only_read(trained, tmp_path, monkeypatch, capsys):
    result, store = trained
    before = sorted(str(p) for p in store.root.rglob("*"))
    monkeypatch.setattr("competition.store.writable_folder", lambda *a: pytest.fail("the store was probed"))
    assert cli(["report", "--runs-dir", str(store.root), "--out", str(tmp_path / "reports")]) == 0
    assert (tmp_path / "reports" / "runs" / SPEC.name / "report.md").exists()
    assert (tmp_path / "reports" / "index.html").exists() and "1 run report(s)" in capsys.readouterr().out
    assert sorted(str(p) for p in store.root.rglob("*")) == before
    assert cli(["report", "nothing-of-that-name", "--runs-dir", str(store.root), "--out", str(tmp_path / "r2")]) == 1


def leaderboard_row(name: str, score: float) -> dict:
    return {"experiment": name, "data": "digits", "budget": "tiny", "scheme": "holdout", "n": 10,
            "metric": "macro_f1", "score": score, "low": score - 0.1, "high": score + 0.1, "seeds": 1}


def test_foreign_lines_in_the_history_are_skipped_with_their_line_numbers(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(["null", "[]", json.dumps({"experiment": "no data"}),
                               json.dumps(leaderboard_row("kept", 0.5))]) + "\n")
    with pytest.warns(HistoryWarning, match="skipped 3 line\\(s\\).*line 1, 2, 3"):
        history = append_history([leaderboard_row("new", 0.6)], path)
    assert [row["experiment"] for row in history] == ["kept", "new"]


def test_a_cut_last_line_cannot_swallow_the_next_row(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(leaderboard_row("first", 0.5)) + "\n" + json.dumps(leaderboard_row("cut", 0.4))[:30])
    with pytest.warns(HistoryWarning, match="line 2"):
        history = append_history([leaderboard_row("next", 0.6)], path)
    assert [row["experiment"] for row in history] == ["first", "next"]


# --- a full disk, a bad tracking URI ---------------------------------------------------------------------
def test_a_full_disk_names_the_path_and_replaces_nothing(tmp_path):
    target = tmp_path / "kept.csv"
    target.write_text("precious")

    def fill_the_disk(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=f"{target}: no space left on the device"):
        atomic_write(target, fill_the_disk)
    assert target.read_text() == "precious" and list(tmp_path.iterdir()) == [target]


def test_an_image_cache_on_a_full_disk_is_an_error_not_a_sigbus(data_root, tmp_path, monkeypatch):
    from competition.data.cache import Preprocess, cached_images

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.posix_fallocate", no_space)
    paths = sorted((data_root / "digits" / "train" / "images").iterdir())[:10]
    with pytest.raises(DiskFullError, match="no space left on the device \\(.* free, .*B needed"):
        cached_images(paths, Preprocess(channels=1), tmp_path / "cache", progress=False)
    assert [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize("uri, message", [
    ("http://127.0.0.1:9", "no tracking server answers at 127.0.0.1:9"),
    ("not a uri", "not a tracking URI"),
    ("http://", "no host"),
])
def test_a_bad_mlflow_uri_is_named_before_any_training(uri, message):
    with pytest.raises(ConfigError, match=message):
        check_uri(uri, timeout=1)


# --- the store key ----------------------------------------------------------------------------------------
def test_a_changed_metric_is_not_served_the_old_result(data_root, tmp_path):
    comp = tmp_path / "mine"
    shutil.copytree(data_root / "digits", comp)
    store = Store(tmp_path / "runs")
    spec = SPEC.with_(data=str(comp))
    first = run(spec, TINY, RunContext(store=store, data_root=data_root, progress_file=False))
    config = json.loads((comp / "competition.json").read_text())
    (comp / "competition.json").write_text(json.dumps({**config, "metric": "accuracy"}))
    second = run(spec, TINY, RunContext(store=store, data_root=data_root, progress_file=False))
    assert first.metric == "macro_f1" and second.metric == "accuracy" and not second.provenance.cache_hit
    moved = tmp_path / "moved"
    comp.rename(moved)
    third = run(spec.with_(data=str(moved)), TINY, RunContext(store=store, data_root=data_root, progress_file=False))
    assert third.provenance.cache_hit, "where the competition lies is not part of the key"


USER_MODEL = '''
from competition.models.classifier import Classifier
from competition.models.registry import register_model
from torch import nn


@register_model("{name}")
def build(num_classes, in_chans, pretrained=None, **kw):
    net = nn.Sequential(nn.Flatten(), nn.Linear(64 * in_chans, 16), nn.ReLU())
    return Classifier(net, 16, num_classes, in_chans, [net], name="{name}")
'''


def test_editing_a_registered_model_retrains_and_an_unchanged_one_is_served(data_root, tmp_path, monkeypatch):
    module = tmp_path / "user_models_edit.py"
    module.write_text(USER_MODEL.format(name="user_edit_net"))
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("user_models_edit")
    store = Store(tmp_path / "runs")
    spec = SPEC.with_(model="user_edit_net", model_kw={})
    context = RunContext(store=store, data_root=data_root, progress_file=False)
    first = run(spec, TINY, context)
    assert run(spec, TINY, context).provenance.cache_hit
    module.write_text(USER_MODEL.format(name="user_edit_net").replace("nn.ReLU())", "nn.Tanh())"))
    assert not run(spec, TINY, context).provenance.cache_hit
    assert "model:user_edit_net" in spec.user_code() and first.key


def test_a_new_checkpoint_at_the_pretrained_path_retrains(data_root, tmp_path):
    """The spec named the checkpoint by its path alone: writing new weights there (a re-run pre-training)
    kept every result keyed as before, and the store served the results of the old weights."""
    import torch
    from competition.models import create_model

    checkpoint = tmp_path / "pretrained.pt"
    model = create_model("rescnn", 10, in_chans=1, width=4)
    torch.save(model.state_dict(), checkpoint)
    spec = SPEC.with_(pretrained=str(checkpoint))
    context = RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False)
    assert not run(spec, TINY, context).provenance.cache_hit
    assert run(spec, TINY, context).provenance.cache_hit, "the same checkpoint is served"
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    torch.save(model.state_dict(), checkpoint)
    assert not run(spec, TINY, context).provenance.cache_hit, "new weights at the same path must retrain"
    checkpoint.unlink()
    with pytest.raises(ConfigError, match="pretrained.pt: checkpoint file not found"):
        run(spec, TINY, context)


USER_MODEL_WITH_HELPERS = '''
from competition.models.classifier import Classifier
from competition.models.registry import register_model
from torch import nn

import {package}.layers
from {package}.blocks import hidden_layer


@register_model("{name}")
def build(num_classes, in_chans, pretrained=None, **kw):
    net = nn.Sequential(nn.Flatten(), hidden_layer(64 * in_chans), {package}.layers.activation())
    return Classifier(net, 16, num_classes, in_chans, [net], name="{name}")
'''


@pytest.mark.parametrize("edited", ["blocks", "layers"])
def test_editing_a_helper_in_another_file_of_ones_own_code_retrains(edited, data_root, tmp_path, monkeypatch):
    """The model's file is unchanged; what it imports from the user's other files (a function from one, a
    module whose function it calls) is edited."""
    package = f"user_helpers_{edited}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "blocks.py").write_text(
        "from torch import nn\n\n\ndef hidden_layer(inputs):\n    return nn.Linear(inputs, 16)\n")
    (tmp_path / package / "layers.py").write_text("from torch import nn\n\n\ndef activation():\n    return nn.ReLU()\n")
    (tmp_path / package / "model.py").write_text(USER_MODEL_WITH_HELPERS.format(package=package, name=package))
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__(f"{package}.model")
    spec = SPEC.with_(model=package, model_kw={})
    context = RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False)
    assert not run(spec, TINY, context).provenance.cache_hit
    assert run(spec, TINY, context).provenance.cache_hit, "unchanged code is served"
    helper = tmp_path / package / f"{edited}.py"
    helper.write_text(helper.read_text().replace("nn.Linear(inputs, 16)", "nn.Linear(inputs, 16, bias=False)")
                      .replace("nn.ReLU()", "nn.Tanh()"))
    assert not run(spec, TINY, context).provenance.cache_hit, f"an edit to {edited}.py must retrain"


def test_a_registered_entry_without_source_or_version_is_refused():
    from competition.registry import LOSSES

    namespace: dict = {}
    exec(textwrap.dedent('''
        def my_loss(**kw):
            raise AssertionError
    '''), namespace)
    namespace["my_loss"].__module__ = "interactive_nowhere"
    LOSSES.register("interactive_loss", namespace["my_loss"])
    try:
        with pytest.raises(ConfigError, match="cannot be read .* `version` attribute"):
            SPEC.with_(loss="interactive_loss").user_code()
        namespace["my_loss"].version = "2"
        assert SPEC.with_(loss="interactive_loss").user_code() == {
            "loss:interactive_loss": "interactive_nowhere.my_loss@version:2"}
    finally:
        LOSSES.entries.pop("interactive_loss")


USER_PARTS = '''
import numpy as np
from torch import nn
from competition.metrics import register_metric
from competition.registry import LOSSES


def flip(image):
    return image[:, ::-1]  # EDIT-augmentation


LOSSES.register("user_parts_loss", lambda **kw: nn.CrossEntropyLoss())  # EDIT-loss
register_metric("user_parts_metric", lambda y, pred: float(np.mean(y == pred)), needs="labels")  # EDIT-metric
'''


@pytest.mark.parametrize("kind", ["augmentation", "loss", "metric"])
def test_editing_a_users_augmentation_loss_or_metric_retrains(kind, data_root, tmp_path, monkeypatch):
    module = tmp_path / f"user_parts_{kind}.py"
    module.write_text(USER_PARTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    parts = __import__(f"user_parts_{kind}")
    comp = tmp_path / "mine"
    shutil.copytree(data_root / "digits", comp)
    config = json.loads((comp / "competition.json").read_text())
    (comp / "competition.json").write_text(json.dumps({**config, "metric": "user_parts_metric"}))
    spec = SPEC.with_(data=str(comp), loss="user_parts_loss", augmentation=parts.flip)
    context = RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False)
    assert not run(spec, TINY, context).provenance.cache_hit
    assert run(spec, TINY, context).provenance.cache_hit, "an unchanged spec and unchanged code are served"
    module.write_text(USER_PARTS.replace(f"# EDIT-{kind}", f"# EDIT-{kind}, edited"))
    edited = SPEC.with_(data=str(comp), loss="user_parts_loss", augmentation=parts.flip)
    assert not run(edited, TINY, context).provenance.cache_hit, f"an edited {kind} must retrain"


NOTEBOOK_CELL = """
import torch

SCALE = 1.0  # a global another cell sets

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) * SCALE

def loss(logits, targets):
    smoothing = 0.1 if "smooth" in {"smooth", "plain", "focal"} else 0.0  # a set constant: its order is hashed
    return torch.nn.functional.cross_entropy(logits, targets, label_smoothing=smoothing)
"""


def run_cell(source: str):
    """What a notebook cell defines: a module with no source file (inspect cannot read it back)."""
    cell = types.ModuleType("notebook_cell")
    sys.modules["notebook_cell"] = cell
    exec(compile(source, "<ipython-input-1>", "exec"), cell.__dict__)
    return cell


def notebook_names(source: str) -> tuple[str, str]:
    cell = run_cell(source)
    spec = Experiment("nb", model=cell.Net(), loss=cell.loss)
    return spec.model, spec.loss


@pytest.mark.parametrize("edit", [("self.fc(x.flatten(1))", "self.fc(x.flatten(1)).relu()"), ("0.1 if", "0.2 if"),
                                  ("SCALE = 1.0", "SCALE = 2.0")], ids=["forward", "constant", "global"])
def test_code_defined_in_a_notebook_is_keyed_by_its_code(edit):
    """Without a source file, an object was keyed by its name, repr and weights, a function by its bytecode
    alone: a forward() edited in a notebook, a constant or a global it reads changed, kept the spec's key, and
    the store served the result of the code before the edit."""
    before, again = notebook_names(NOTEBOOK_CELL), notebook_names(NOTEBOOK_CELL)
    assert before == again and notebook_names(NOTEBOOK_CELL.replace(*edit)) != before


def test_a_notebook_objects_key_is_the_same_in_every_process():
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
              "from test_nothing_lost import NOTEBOOK_CELL, notebook_names; print(notebook_names(NOTEBOOK_CELL))")
    keys = {subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True).stdout for seed in ("1", "2")}
    assert len(keys) == 1


USER_FACTORIES = """
import os
from torch import nn

WIDTH = int(os.environ.get("USER_FACTORY_WIDTH", "8"))  # a value no line of the source holds


def make(width, tags=frozenset({"a", "b", "c", "d"})):
    def factory(num_classes, in_chans):
        assert "a" in tags  # a captured set: its order follows the process's hash seed
        return nn.Sequential(nn.Flatten(), nn.Linear(64 * in_chans, width), nn.ReLU(), nn.Linear(width, num_classes))
    return factory


def from_global(num_classes, in_chans):
    return nn.Sequential(nn.Flatten(), nn.Linear(64 * in_chans, WIDTH), nn.ReLU(), nn.Linear(WIDTH, num_classes))
"""


def factory_names(folder: str, width: int) -> tuple[str, str]:
    sys.path.insert(0, folder)
    import user_factories
    return (Experiment("f", model=user_factories.make(width)).model,
            Experiment("f", model=user_factories.from_global).model)


def test_a_factory_is_keyed_by_the_values_it_captured_or_reads(tmp_path, data_root):
    """make(2) and make(64) (a factory per width, as a parametrized test writes it) had one key, as had a factory
    reading WIDTH = int(os.environ[...]) under any WIDTH: the store served the width-2 result as the width-64 one."""
    (tmp_path / "user_factories.py").write_text(USER_FACTORIES)
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
              f"from test_nothing_lost import factory_names; print(factory_names({str(tmp_path)!r}, {{}}))")
    names = lambda width, env: subprocess.run(
        [sys.executable, "-c", script.format(width)], env={**os.environ, **env}, capture_output=True, text=True,
        check=True).stdout
    narrow = names(2, {"PYTHONHASHSEED": "1"})
    assert names(2, {"PYTHONHASHSEED": "2"}) == narrow, "the same code and values: the same key in every process"
    (made_narrow, read_narrow), (made_wide, read_wide) = eval(narrow), eval(names(64, {"USER_FACTORY_WIDTH": "64"}))
    assert made_wide != made_narrow and read_wide != read_narrow
    sys.path.insert(0, str(tmp_path))
    import user_factories
    context = RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False)
    assert not run(SPEC.with_(model=user_factories.make(2)), TINY, context).provenance.cache_hit
    assert not run(SPEC.with_(model=user_factories.make(64)), TINY, context).provenance.cache_hit
    assert run(SPEC.with_(model=user_factories.make(64)), TINY, context).provenance.cache_hit


def test_tta_refuses_a_result_trained_on_other_data(data_root, tmp_path):
    from competition.posthoc import apply_tta

    comp = tmp_path / "mine"
    shutil.copytree(data_root / "digits", comp)
    context = RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False)
    result = run(SPEC.with_(data=str(comp)), TINY, context)
    images = sorted((comp / "eval" / "images").iterdir())
    images[0].write_bytes(images[1].read_bytes())
    with pytest.raises(ConfigError, match="trained on data .* is now"):
        apply_tta(result, ("identity", "hflip"), context=context, budget=TINY)
