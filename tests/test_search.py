"""Hyperparameter search (competition.search): the spec is checked when built, a seeded study gives the same
trials on a rerun and is served from the store when finished, a killed search resumes without retraining,
a diverging configuration is pruned, and a search over pure noise finds a 'winner' that its confirmation
on unseen rows does not back."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from competition.cli import main
from competition.data import open_competition
from competition.data.splits import CONFIRM_FRACTION, confirmation_split
from competition.errors import ConfigError
from competition.gates import Underpowered
from competition.experiment import Experiment
from competition.runner import RunContext, run
from competition.scoring import eval_answers
from competition.search import (CategoricalDistribution, FloatDistribution, IntDistribution, Search, assert_confirmed,
                                run_search, storage_url)
from competition.store import Store

pytest_plugins = ["pytester"]

BASE = Experiment("digits-search", data="digits", model="rescnn", model_kw={"width": 8}, epochs=4, batch_size=64)
LR = {"lr": FloatDistribution(1e-4, 3.0, log=True)}


class Trainer:
    """trainer(spec, on_epoch=None) through a store at the smoke budget, noting the specs it trains (pruned
    ones included) rather than serves."""

    def __init__(self, runs, data_root, stop_at: str | None = None):
        self.store, self.data_root, self.stop_at = Store(runs), data_root, stop_at
        self.trained: list[str] = []

    def __call__(self, spec, on_epoch=None):
        if spec.name == self.stop_at:
            raise KeyboardInterrupt(f"killed while {spec.name} trains")
        context = RunContext(store=self.store, data_root=self.data_root, progress_file=False, on_epoch=on_epoch)
        try:
            result = run(spec, "smoke", context)
        except Exception:
            self.trained.append(spec.name)  # stopped by the pruner: it was training
            raise
        if not result.provenance.cache_hit:
            self.trained.append(spec.name)
        return result


def search_in(runs, data_root, search, trainer=None, **kwargs):
    trainer = trainer or Trainer(runs, data_root)
    report = run_search(search, trainer, open_competition("digits", data_root), "smoke", storage_url(runs), **kwargs)
    return report, trainer


def finished_trials(report):
    return [(t["number"], t["state"], t["params"], t["value"]) for t in report.trials
            if t["state"] in ("COMPLETE", "PRUNED")]


@pytest.mark.parametrize("space, match", [
    ({"learning_rate": FloatDistribution(1e-4, 1.0)}, "did you mean 'lr'"),
    ({"lr": (1e-4, 1.0)}, "give an Optuna distribution"),
    ({"batch_size": CategoricalDistribution([0, 64])}, "allows 0, which the spec refuses"),
    ({"name": CategoricalDistribution(["a", "b"])}, "not a searchable spec field"),
    ({"model_kw": CategoricalDistribution([1])}, "not a searchable spec field"),
])
def test_a_search_with_a_bad_space_is_refused_when_built(space, match):
    with pytest.raises(ConfigError, match=match):
        Search("s", BASE, space)


def test_a_search_with_bad_settings_is_refused_when_built():
    for kwargs, match in [({"metric": "log_loss"}, "metric='log_loss'"), ({"pruner": "hyperband"}, "pruner"),
                          ({"trials": 0}, "trials=0"), ({"effect": 0}, "smallest confirmed gain"),
                          ({"enqueue": [{"lr": 10.0}]}, "outside"), ({"enqueue": [{"wd": 0.1}]}, "not in the space"),
                          ({"base": BASE.with_(seeds="auto", max_seeds=5)}, "seeds='auto'")]:
        with pytest.raises(ConfigError, match=match):
            Search("s", **{"base": BASE, "space": LR, **kwargs})
    with pytest.raises(ConfigError, match="Search.name='lr/wd': a name is the name of its report folder"):
        Search("lr/wd", BASE, LR)  # its report folder and every trial's name start with it


def test_a_search_reaches_into_keyword_dicts_and_trains_on_the_search_rows_only():
    space = {"model_kw.width": IntDistribution(4, 16), "optimizer_kw.momentum": FloatDistribution(0.8, 0.95)}
    search = Search("s", BASE.with_(optimizer="sgd"), space)
    spec = search.trial_spec({"model_kw.width": 12, "optimizer_kw.momentum": 0.9}, 3)
    assert spec.model_kw == {"width": 12} and spec.optimizer_kw == {"momentum": 0.9}
    assert spec.rows == "search" and spec.name == "s-t003" and BASE.model_kw == {"width": 8}
    with pytest.raises(ConfigError, match="allows 0.8, which the spec refuses: .*optimizer 'adamw' does not take"):
        Search("s", BASE, space)  # SGD's momentum searched on AdamW would train nothing different
    assert search.base_params() is None  # the base sets no momentum: it is not a point of this space
    assert Search("s", BASE, LR).base_params() == {"lr": BASE.lr}


def test_the_confirmation_split_is_fixed_stratified_and_never_trained_on(data_root):
    competition = open_competition("digits", data_root)
    search_rows, confirm_rows = confirmation_split(competition.train)
    assert not set(search_rows) & set(confirm_rows) and len(search_rows) + len(confirm_rows) == len(competition.train)
    assert abs(len(confirm_rows) / len(competition.train) - CONFIRM_FRACTION) < 0.01
    shares = np.bincount(competition.train["label"].to_numpy()[confirm_rows]) / len(confirm_rows)
    assert np.abs(shares - 0.1).max() < 0.02
    assert np.array_equal(confirm_rows, confirmation_split(competition.train)[1])
    answers = eval_answers(competition, rows="search")
    assert np.array_equal(answers, competition.train["label"].to_numpy()[confirm_rows])


def test_an_experiment_on_the_search_rows_predicts_the_confirmation_split_as_its_eval_set(data_root):
    assert "rows" not in BASE.to_dict()  # every stored run keeps its key
    competition = open_competition("digits", data_root)
    search_rows, confirm_rows = confirmation_split(competition.train)
    spec = BASE.with_(rows="search", epochs=1)
    result = run(spec, "smoke", RunContext(data_root=data_root, progress_file=False))
    assert result.provenance.train_rows == len(search_rows) and spec.to_dict()["rows"] == "search"
    assert np.array_equal(result.eval_ids, competition.train["image_id"].to_numpy()[confirm_rows])
    with pytest.raises(ConfigError, match="rows='confirm'"):
        BASE.with_(rows="confirm")


def test_a_seeded_study_gives_the_same_trials_on_a_rerun_and_is_served_when_finished(data_root, tmp_path, capsys):
    search = Search("lr", BASE, LR, trials=5, sampler_seed=3)
    first, _ = search_in(tmp_path / "a", data_root, search, confirmation=False)
    again, _ = search_in(tmp_path / "b", data_root, search, confirmation=False)
    assert finished_trials(first) == finished_trials(again) and len(finished_trials(first)) == 5
    assert first.trials[0]["params"] == {"lr": BASE.lr} and first.trials[0]["source"] == "base"
    served, trainer = search_in(tmp_path / "a", data_root, search, confirmation=False)
    assert finished_trials(served) == finished_trials(first) and trainer.trained == []
    # more trials of the same search continue its study: the five are kept, two more are asked
    more, trainer = search_in(tmp_path / "a", data_root, dataclasses.replace(search, trials=7), confirmation=False)
    assert finished_trials(more)[:5] == finished_trials(first) and len(trainer.trained) == 2
    assert main(["search", "--runs-dir", str(tmp_path / "a")]) == 0
    assert f"{first.study}: 7 trial(s) finished" in capsys.readouterr().out


def test_a_killed_search_resumes_without_retraining_finished_trials(data_root, tmp_path):
    search = Search("lr", BASE, LR, trials=5, sampler_seed=3, pruner=None)
    killer = Trainer(tmp_path / "runs", data_root, stop_at="lr-t003")
    with pytest.raises(KeyboardInterrupt):
        search_in(tmp_path / "runs", data_root, search, trainer=killer, confirmation=False)
    assert killer.trained == ["lr-t000", "lr-t001", "lr-t002"]
    resumed, trainer = search_in(tmp_path / "runs", data_root, search, confirmation=False)
    states = {t["number"]: (t["state"], t["source"]) for t in resumed.trials}
    assert states[3] == ("FAIL", "sampler") and states[4] == ("COMPLETE", "retry of trial 3")
    assert trainer.trained == ["lr-t004", "lr-t005"]  # the retry of trial 3, then the fifth trial
    assert len(finished_trials(resumed)) == 5


def test_a_diverging_learning_rate_is_pruned_before_its_last_epoch(data_root, tmp_path):
    sgd = BASE.with_(optimizer="sgd", lr=0.03)  # SGD at 100x its learning rate: 0.04-0.67 macro F1 in 4 epochs
    search = Search("sgd-lr", sgd, {"lr": FloatDistribution(1e-3, 3.0, log=True)}, trials=4, pruner="median",
                    enqueue=[{"lr": 0.02}, {"lr": 0.05}, {"lr": 3.0}])
    report, trainer = search_in(tmp_path / "runs", data_root, search, confirmation=False)
    diverged = report.trials[3]
    assert diverged["params"] == {"lr": 3.0} and diverged["state"] == "PRUNED", report.trials
    assert diverged["last_step"] < sgd.epochs and "pruned at epoch" in diverged["why"]
    assert all(t["state"] == "COMPLETE" for t in report.trials[:3])
    # a pruned trial's unit is not stored as a result: a rerun of that spec without a pruner trains it
    spec = search.trial_spec({"lr": 3.0}, 3)
    assert run(spec, "smoke", RunContext(store=Store(tmp_path / "runs"), data_root=data_root,
                                         progress_file=False)).provenance.cache_hit is False


def test_a_search_whose_minutes_ran_out_before_a_trial_is_underpowered_not_failed(data_root, tmp_path):
    """The main job's hour can be spent before the search starts: that says nothing against its claim."""
    search = Search("late", BASE, LR, trials=3, pruner=None)
    report, trainer = search_in(tmp_path / "runs", data_root, search, deadline=time.monotonic() - 1)
    assert trainer.trained == [] and "the minutes budget is spent" in report.stopped
    with pytest.raises(Underpowered, match="stopped after 0 of 3 trials"):
        assert_confirmed(report)


def test_a_search_over_noise_finds_a_winner_its_confirmation_does_not_back(data_root, tmp_path):
    """The split seed changes which rows validate, not how good the model is: the best of eight trials beats
    the base on the search rows by selection alone, and the claim on the confirmation rows must not pass."""
    search = Search("noise", BASE, {"split_seed": IntDistribution(0, 10**6)}, trials=8, sampler="random",
                    pruner=None, effect=0.01)
    report, _ = search_in(tmp_path / "runs", data_root, search)
    assert report.best["search_score"] > report.base_search_score  # the winner's curse, visible
    assert report.confirmation["outcome"] in ("fail", "underpowered"), report.lines()
    assert report.gain_optimism > 0
    assert any("selection optimism" in line for line in report.lines())


SEARCH_FILE = """
import pytest
from competition.experiment import Experiment
from competition.search import FloatDistribution, Search, assert_confirmed

BASE = Experiment("digits-search", data="digits", model="rescnn", model_kw={"width": 8}, epochs=3, batch_size=64,
                  lr=3e-4)  # ten times too low: a search over the learning rate should find better
SEARCH = Search("lr", BASE, {"lr": FloatDistribution(1e-4, 3e-2, log=True)}, trials=4, pruner=None,
                sampler="random", sampler_seed=0, effect=0.01, confirm_max_seeds=5)

@pytest.mark.experiment
def test_search(run_search):
    assert_confirmed(run_search(SEARCH))
"""


def test_a_search_in_pytest_is_on_the_leaderboard_the_html_report_and_mlflow(pytester, data_root):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    pytester.makepyfile(test_lr_search=SEARCH_FILE)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "--runs-dir=runs", "--mlflow",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*competition searches*", "search lr (study lr-*): 4 trial(s), 0 pruned*",
                                 "*confirmed on the confirmation split*beats:0.01 pass*", "*selection optimism*",
                                 "*PASS*lr-best beats lr-base*"])
    result.stdout.fnmatch_lines(["digits search rows (eval: confirmation split) | budget smoke | holdout*"])
    leaderboard = (pytester.path / "reports" / "leaderboard.md").read_text()
    assert all(f"lr-t00{i}" in leaderboard for i in range(4)) and "lr-best" in leaderboard
    page = pytester.path / "reports" / "searches" / "lr"
    assert (page / "optimization_history.png").exists() and "lr-" in (page / "index.html").read_text()
    assert 'href="searches/lr/index.html"' in (pytester.path / "reports" / "index.html").read_text()
    client = MlflowClient(tracking_uri=f"sqlite:///{pytester.path / 'runs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("competition").experiment_id])
    parent = [r for r in runs if r.data.tags["mlflow.runName"] == "search lr"]
    assert len(parent) == 1 and parent[0].data.params["confirmation"] == "pass"
    children = {r.data.tags["mlflow.runName"] for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id}
    assert children == {"lr-t000", "lr-t001", "lr-t002", "lr-t003", "lr-best", "lr-base"}


def test_a_damaged_study_file_is_named_with_what_to_do(tmp_path, capsys):
    """SQLAlchemy's 'file is not a database' traceback came out of Optuna, naming no file."""
    from competition.errors import StoreError
    from competition.search import open_study
    (tmp_path / "studies.sqlite3").write_bytes(b"not a database: the half of a copy that arrived " * 40)
    storage = storage_url(tmp_path)
    with pytest.raises(StoreError, match=r"studies.sqlite3: not a readable Optuna study storage \(file is not a "
                                         r"database\); move the file aside"):
        open_study(Search("s", BASE, LR), storage, "s-study")
    assert main(["search", "--runs-dir", str(tmp_path)]) == 1
    assert "not a readable Optuna study storage" in capsys.readouterr().err
