"""The pytest plugin, through pytester: options, markers, fixtures, summary, JUnit."""
from __future__ import annotations

import os
import re
import shutil
import time

import pytest
import torch._dynamo  # noqa: F401  torch imports it lazily; pytester's inline runs would drop and re-import it

from competition import pytest_plugin

pytest_plugins = ["pytester"]

EXPERIMENT_FILE = """
import pytest
from competition.experiment import Experiment
from competition.gates import assert_metric_floor

TINY = Experiment("digits-tiny", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=64)

@pytest.mark.experiment
def test_tiny_clears_zero(run_experiment, budget):
    assert budget.name == "smoke"
    assert_metric_floor(run_experiment(TINY), 0.0)

@pytest.mark.experiment
def test_tiny_impossible_floor(run_experiment):
    assert_metric_floor(run_experiment(TINY), 1.01)
"""



def test_options_are_documented(pytester):
    result = pytester.runpytest("--help")
    for option in ("--budget={smoke,standard,full}", "--data-dir", "--runs-dir", "--device", "--rerun",
                   "--update-baselines"):
        result.stdout.fnmatch_lines([f"*{option}*"])


def test_unknown_option_value_is_a_usage_error(pytester):
    result = pytester.runpytest("--budget=huge")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--budget: invalid choice: 'huge'*"])


@pytest.mark.parametrize("minutes", ["-5", "nan"])
def test_minutes_below_zero_are_a_usage_error(pytester, minutes):
    """--minutes -5 skipped every guard as UNDERPOWERED: a CI gate that judged nothing."""
    result = pytester.runpytest(f"--minutes={minutes}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--minutes {float(minutes)}: give the minutes the session may train*"])


def test_markers_are_registered_and_strict(pytester):
    pytester.makepyfile("""
        import pytest
        @pytest.mark.experiment
        @pytest.mark.slow
        def test_a(): pass
        @pytest.mark.experimnt
        def test_b(): pass
    """)
    result = pytester.runpytest("--strict-markers")
    result.stdout.fnmatch_lines(["*'experimnt' not found in `markers`*"])


def test_gpu_marker_skips_without_cuda(pytester):
    import torch
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gpu
        def test_needs_gpu(): pass
    """)
    outcome = pytester.runpytest().parseoutcomes()
    assert outcome.get("skipped" if not torch.cuda.is_available() else "passed") == 1


def test_run_experiment_leaderboard_junit_and_store_hit(pytester, data_root):
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    args = ["--budget=smoke", f"--data-dir={data_root}", "--runs-dir=runs", "--junitxml=out.xml",
            "-p", "no:cacheprovider"]
    first = pytester.runpytest(*args)
    first.assert_outcomes(passed=1, failed=1)
    first.stdout.fnmatch_lines([
        "*expected the lower bound >= 1.0100*",
        "*competition leaderboard (budget: smoke)*",
        "digits | budget smoke | holdout, n=*| macro_f1",
        "*#*experiment*score ?95% CI?*gap*eval*seeds*time*hit",
        " 1 digits-tiny*",
    ])
    assert max(len(line) for line in first.outlines if line.startswith((" 1 digits-tiny", " # "))) <= 100
    junit = (pytester.path / "out.xml").read_text()
    assert 'name="metric_floor.digits-tiny.low"' in junit and 'name="metric_floor.digits-tiny.floor"' in junit
    assert (pytester.path / "reports" / "leaderboard.md").exists()
    for name in ("result.json", "history.csv", "learning_curves.png", "confusion_matrix.png", "per_class_f1.png",
                 "report.md", "oof_probs.npy", "eval_probs.npy"):
        assert (pytester.path / "reports" / "runs" / "digits-tiny" / name).exists(), name
    report = (pytester.path / "reports" / "runs" / "digits-tiny" / "report.md").read_text()
    assert "inside the validation CI" in report
    second = pytester.runpytest(*args)
    second.stdout.fnmatch_lines(["*digits-tiny*yes"])
    history = (pytester.path / "runs" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2 and '"commit"' in history[0]  # one row per session, appended
    assert "Best ever per experiment" in (pytester.path / "reports" / "leaderboard.md").read_text()


def test_progress_is_visible_without_capture_flag(pytester, data_root):
    """In a process of its own, as a user runs it: there pytest captures the test's file descriptors, and
    lines written through them vanish when the test passes (in-process, pytester's capture hid that).
    The session's pace counts only units trained: a result assembled from stored units trained nothing."""
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    args = ("--budget=smoke", f"--data-dir={data_root}", "-k", "clears_zero", "--minutes=30", "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess(*args)
    result.stdout.fnmatch_lines(["*[[]digits-tiny[]] fold0-seed0 epoch=1 *",
                                 "*[[]digits-tiny[]] trained 1 unit(s) in * min; session * of 30 min"])
    shutil.rmtree(pytester.path / "runs" / "entries")  # the run's result goes; its unit stays in the store
    again = pytester.runpytest_subprocess(*args)
    again.assert_outcomes(passed=1)
    assert not any("epoch=" in line or "trained" in line for line in again.outlines), again.outlines


CLAIM_FILE = """
import pytest
from competition.experiment import Experiment
from competition.gates import assert_claim

BASE = Experiment("digits-a", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=64)

@pytest.mark.claim
def test_one_seed_cannot_claim(run_experiment):
    assert_claim(run_experiment(BASE.with_(name="digits-b", lr=1e-2)), run_experiment(BASE), "beats:0.01")
"""


def test_an_underpowered_claim_is_a_visible_skip_never_a_pass(pytester, data_root):
    pytester.makepyfile(test_claim=CLAIM_FILE)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*competition claims*", "UNDERPOWERED*digits-b beats digits-a*",
                                 "*UNDERPOWERED: digits-b beats digits-a: 1 vs 1 training seeds*"])
    # reported at the claim's own test, not at the plugin line that raised the skip
    assert any(re.match(r"SKIPPED \[1\] test_claim\.py:\d+: UNDERPOWERED", line) for line in result.outlines), \
        result.outlines


def test_one_name_for_two_specs_is_refused_before_the_second_trains(pytester, data_root):
    """A parametrized test that leaves its parameter out of the name: each spec replaced the one before in
    the reports, the leaderboard and `submit --result`, without a word. More seeds of one spec are its own."""
    pytester.makepyfile(test_same_name="""
        import pytest
        from competition.experiment import Experiment
        BASE = Experiment("digits-lr", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=64)

        @pytest.mark.parametrize("lr", [3e-3, 1e-2])
        def test_lr(run_experiment, lr):
            run_experiment(BASE.with_(lr=lr))

        def test_more_seeds_of_the_same_spec(run_experiment):
            run_experiment(BASE.with_(lr=3e-3, seeds=2))
    """)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*ConfigError: experiment name 'digits-lr' already names another spec in this "
                                 "session (lr: 0.003 then 0.01)*"])


def test_a_spent_time_budget_reports_later_training_as_underpowered(pytester, data_root):
    pytester.makepyfile(test_claim=CLAIM_FILE)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "--minutes=0", "-rs",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*UNDERPOWERED: the 0-minute training budget is spent*BUDGET=full*"])


XDIST_FILE = """
import pytest
from competition.experiment import Experiment

@pytest.mark.experiment
@pytest.mark.parametrize("width", [4, 6])
def test_one_per_worker(run_experiment, width):
    run_experiment(Experiment(f"digits-w{width}", data="digits", model="rescnn", model_kw={"width": width},
                              epochs=1, batch_size=64))
"""


def test_xdist_workers_share_one_leaderboard_and_each_sends_its_results_to_the_trackers(pytester, data_root):
    import json

    pytester.makepyfile(test_xdist=XDIST_FILE)
    result = pytester.runpytest_subprocess("-n", "2", "--budget=smoke", f"--data-dir={data_root}",
                                           "-p", "no:cacheprovider", "--tracker", "jsonl")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*competition leaderboard*"])
    board = (pytester.path / "reports" / "leaderboard.md").read_text()
    assert "digits-w4" in board and "digits-w6" in board
    # the controller trained nothing: each worker sent its own runs, and the summary has each worker's line
    sent = [re.search(r"tracker jsonl: (\d+) run\(s\) sent to", line) for line in result.outlines]
    assert sum(int(match[1]) for match in sent if match) == 2, result.outlines
    tracked = (pytester.path / "runs" / "tracked.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["name"] for line in tracked) == ["digits-w4", "digits-w6"]


def test_progress_is_quiet_with_two_q(pytester, data_root):
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "-k", "clears_zero", "-qq")
    assert not any("epoch=1" in line for line in result.outlines)


def test_an_unreachable_mlflow_uri_is_a_usage_error_before_any_test(pytester):
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest("--mlflow", "http://127.0.0.1:9", f"--runs-dir={pytester.path / 'runs'}",
                                f"--reports-dir={pytester.path / 'reports'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no tracking server answers at 127.0.0.1:9*"])


def test_a_failing_gate_points_at_the_users_line_not_into_the_package(pytester):
    """Every assert helper hides its own frames (__tracebackhide__): the traceback ends at the test's line."""
    pytester.makepyfile(test_gate_line="""
        import numpy as np
        from competition.calibration import aa_pair, as_result
        from competition.gates import assert_claim, assert_metric_floor

        def test_floor():
            y, a, b = aa_pair(np.random.default_rng(0), 300, 3, paired=False)
            assert_metric_floor(as_result("a", y, a), 0.999)  # THE USER'S LINE

        def test_claim():
            y, a, b = aa_pair(np.random.default_rng(0), 300, 3, paired=False)
            assert_claim(as_result("a", y, a), as_result("b", y, a), "beats:0.001")  # THE CLAIM LINE
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*THE USER'S LINE*", "*expected the lower bound >= 0.9990*",
                                 "*THE CLAIM LINE*", "*does not beat*"])
    assert "competition/gates.py" not in result.stdout.str()


def test_max_seeds_caps_claims_decided_in_rounds(pytester):
    pytester.makepyfile("""
        def test_cap(until_decided):
            assert until_decided == {"seeds": "auto", "max_seeds": 3}
    """)
    pytester.runpytest("--max-seeds", "3").assert_outcomes(passed=1)
    refused = pytester.runpytest("--max-seeds", "2")
    assert refused.ret == 4 and "--max-seeds 2" in refused.stderr.str() and "at least 3" in refused.stderr.str()


def test_a_test_stated_at_other_budgets_is_skipped_before_its_fixtures_run(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.fixture
        def trains():
            raise AssertionError("a fixture of a test stated elsewhere ran")

        @pytest.mark.budgets("standard", "full", why="three seeds at smoke cannot decide it")
        def test_stated_at_standard(trains):
            pass

        @pytest.mark.parametrize("case", [pytest.param("smoke", marks=pytest.mark.budgets("smoke")),
                                          pytest.param("full", marks=pytest.mark.budgets("full"))])
        def test_stated_per_case(case):
            assert case == "smoke"

        @pytest.mark.budgets("smoky")
        def test_misspelt():
            pass
    """)
    outcome = pytester.runpytest("--budget", "smoke", "-rs")
    outcome.assert_outcomes(passed=1, skipped=2, errors=1)
    text = outcome.stdout.str()
    assert re.search(r"test_a_test_stated_at_other_budgets_is_skipped_before_its_fixtures_run.py:\d+: stated at "
                     r"budget standard or full, not smoke \(three seeds at smoke cannot decide it\); run it with "
                     r"--budget=standard", text)  # at the test's line, as a skipif marker's skip is
    assert "budgets('smoky',): name one or more of ['smoke', 'standard', 'full']" in text


BREADTH_FIRST = '''
import json, numpy as np
from pathlib import Path
from competition import gates
from competition.calibration import CLASSES, SeedPools, seed_probs
from competition.experiment import Experiment

rng = np.random.default_rng(4)
y = rng.integers(0, CLASSES, 3000)
difficulty = rng.normal(0, 1.5, len(y))
POOLS = SeedPools(y, {"a": seed_probs(rng, y, difficulty, 0.25 + rng.normal(0, 0.2, 9)),
                      "b": seed_probs(rng, y, difficulty, rng.normal(0, 0.2, 9)),
                      "c": seed_probs(rng, y, difficulty, 1.0 + rng.normal(0, 0.2, 9))})

def ran(name):
    with open("order.txt", "a") as f:
        f.write(name + "\\n")

def test_small_effect(until_decided):
    ran("small")
    spec = lambda name: Experiment(name, **{**until_decided, "max_seeds": 9})
    gates.decide_claim(POOLS, spec("a"), spec("b"), "beats:0.02")

def test_plain():
    ran("plain")

def test_large_effect(until_decided):
    ran("large")
    spec = lambda name: Experiment(name, **{**until_decided, "max_seeds": 9})
    gates.decide_claim(POOLS, spec("c"), spec("b"), "beats:0.02")
'''


def test_claims_take_their_extra_rounds_after_every_test_has_run_and_are_reported_once(pytester):
    pytester.makepyfile(test_rounds=BREADTH_FIRST)
    outcome = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml", "-v")
    outcome.assert_outcomes(passed=3)
    order = (pytester.path / "order.txt").read_text().split()
    assert order[:3] == ["small", "plain", "large"], "a claim's second round came before another test's first"
    assert order.count("plain") == 1 and order.count("small") >= 2 and set(order[3:]) <= {"small", "large"}
    assert "[claim deferred] a vs b: undecided at look 1 of 4" in outcome.stdout.str()
    assert outcome.stdout.str().count("test_small_effect PASSED") == 1
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('name="test_small_effect"') == 1 and "look\" value=\"1\"" not in junit


PLANNED = BREADTH_FIRST.split("def ran(name):")[0] + '''
import os, pytest

def ran(name):
    with open("order.txt", "a") as f:
        f.write(name + "\\n")

@pytest.mark.experiment
def test_a_slow_experiment():
    os.environ["SESSION_MINUTES_PASSED"] = "30"  # it took half an hour of the session

@pytest.mark.experiment
def test_small_effect(until_decided):
    ran("small")
    spec = lambda name: Experiment(name, **{**until_decided, "max_seeds": 9})
    gates.decide_claim(POOLS, spec("a"), spec("b"), "beats:0.02")

@pytest.mark.experiment
def test_another_experiment():
    ran("another")
'''


class SessionClock:
    """The plugin's clock, moved on by what the tests say they took (SESSION_MINUTES_PASSED)."""

    def __getattr__(self, name):
        return getattr(time, name)

    def monotonic(self):
        return time.monotonic() + 60 * float(os.environ.get("SESSION_MINUTES_PASSED", "0"))


@pytest.mark.parametrize("minutes, looks", [(40, "one"), (1000, "all")])
def test_claims_plan_one_look_when_the_minutes_cannot_reach_a_second_pass(pytester, monkeypatch, minutes, looks):
    """In rounds, a claim spends part of its error at each look: planned for rounds that never train (the minutes
    end with the first pass), it would judge its first round with a fraction of its error and decide less than a
    claim judged once. The plan depends on the session's time, never on the figures, so each verdict keeps its
    error rate."""
    monkeypatch.setattr(pytest_plugin, "time", SessionClock())
    monkeypatch.setenv("SESSION_MINUTES_PASSED", "0")
    pytester.makepyfile(test_rounds=PLANNED)
    outcome = pytester.runpytest("-p", "no:cacheprovider", "--minutes", str(minutes), "-v", "--junitxml=junit.xml")
    order = (pytester.path / "order.txt").read_text().split()
    junit = (pytester.path / "junit.xml").read_text()
    if looks == "one":  # 30 minutes for 2 experiment tests, 1 left: about 60 of 40 minutes
        assert "[claim planned] test_small_effect: one look" in outcome.stdout.str()
        assert order.count("small") == 1 and 'looks" value="1"' in junit
    else:
        assert "[claim planned]" not in outcome.stdout.str() and order.count("small") >= 2


TRACKER_CONFTEST = """
import json
from pathlib import Path
from competition.errors import ConfigError
from competition.registry import TRACKERS

class ListTracker:
    def __init__(self, path):
        self.path = path
    def log_search(self, search, plots_dir):
        return None
    def log_result(self, result, report_dir, parent=None):
        with open(self.path, "a") as out:
            out.write(json.dumps({"name": result.name, "score": result.score(), "report": str(report_dir)}) + "\\n")
        return result.name
    def describe(self):
        return f"the list at {self.path}"

@TRACKERS.register("mine")
def mine(target, runs_dir):
    if target == "refuse":
        raise ConfigError("mine: refused on purpose")
    return ListTracker(Path(target or runs_dir / "mine.txt"))
"""


def test_a_tracker_of_ones_own_is_one_registration_and_jsonl_is_built_in(pytester, data_root):
    """A tracker registered in conftest.py gets every result at the end of the session beside the built-in
    jsonl one; a target it refuses is a usage error before any test runs."""
    import json

    pytester.makeconftest(TRACKER_CONFTEST)
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    common = ("--budget=smoke", f"--data-dir={data_root}", "-k", "clears_zero", "--runs-dir=runs")
    refused = pytester.runpytest(*common, "--tracker", "mine=refuse")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*mine: refused on purpose*"])
    unknown = pytester.runpytest(*common, "--tracker", "minee")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["*unknown tracker 'minee'*"])

    result = pytester.runpytest(*common, "--tracker", "mine", "--tracker", "jsonl")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*tracker mine: 1 run(s) sent to the list at*mine.txt*",
                                 "*tracker jsonl: 1 run(s) sent to*tracked.jsonl*"])
    mine = [json.loads(line) for line in (pytester.path / "runs" / "mine.txt").read_text().splitlines()]
    assert [row["name"] for row in mine] == ["digits-tiny"] and 0.0 < mine[0]["score"] <= 1.0
    line, = [json.loads(text) for text in (pytester.path / "runs" / "tracked.jsonl").read_text().splitlines()]
    assert line["name"] == "digits-tiny" and line["kind"] == "result" and line["budget"] == "smoke"
    assert line["score"] == pytest.approx(mine[0]["score"]) and line["score_low"] <= line["score"] <= line["score_high"]
    assert line["spec"]["model"] == "rescnn" and len(line["id"]) > 8


def test_a_tracker_that_fails_at_the_end_is_named_and_the_others_still_get_the_results(pytester, data_root):
    pytester.makeconftest(TRACKER_CONFTEST.replace('out.write(', 'raise OSError("disk gone"); out.write('))
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "-k", "clears_zero", "--runs-dir=runs",
                                "--tracker", "mine", "--tracker", "jsonl=out/lines.jsonl")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*tracker mine failed: OSError: disk gone; the results are kept in the store*",
                                 "*tracker jsonl: 1 run(s) sent to*lines.jsonl*"])
    assert len((pytester.path / "out" / "lines.jsonl").read_text().splitlines()) == 1


def test_every_gate_figure_reaches_the_pytest_competition_gate_hook_of_a_conftest(pytester, data_root):
    """A conftest.py implementing the hook gets each figure a gate published, from passing and failing tests
    alike, typed (gate, experiment, figures), beside the plugin's own use of it (the JUnit properties)."""
    import json

    pytester.makeconftest("""
        import json
        def pytest_competition_gate(item, figure):
            with open("figures.jsonl", "a") as out:
                out.write(json.dumps({"test": item.name, "gate": figure.gate, "experiment": figure.experiment,
                                      "floor": figure.figures["floor"], "low": figure.figures["low"]}) + "\\n")
    """)
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "--runs-dir=runs",
                                "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    figures = [json.loads(line) for line in (pytester.path / "figures.jsonl").read_text().splitlines()]
    assert [(f["test"], f["gate"], f["experiment"], f["floor"]) for f in figures] == [
        ("test_tiny_clears_zero", "metric_floor", "digits-tiny", 0.0),
        ("test_tiny_impossible_floor", "metric_floor", "digits-tiny", 1.01)]
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="metric_floor.digits-tiny.floor" value="1.01"' in junit


def test_a_kept_ensemble_is_stored_and_on_the_leaderboard(pytester, data_root):
    """competition_session.keep stores a post-hoc Result (save_posthoc) and ranks it with the trained runs."""
    pytester.makepyfile(test_vote="""
        import pytest
        from competition.ensemble import create_ensemble
        from competition.experiment import Experiment

        A = Experiment("digits-a", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=64)

        @pytest.mark.experiment
        def test_vote(run_experiment, competition_session):
            members = [run_experiment(A), run_experiment(A.with_(name="digits-b", lr=1e-3))]
            vote = create_ensemble("soft_vote", members, name="digits-vote")
            competition_session.keep(vote)
            assert competition_session.store.find("digits-vote").spec["member_keys"] == [m.key for m in members]
    """)
    result = pytester.runpytest("--budget=smoke", f"--data-dir={data_root}", "--runs-dir=runs")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*digits-vote*"])
    assert (pytester.path / "reports" / "runs" / "digits-vote").is_dir()


def test_eval_answers_that_cannot_score_are_named_before_any_training(pytester, tmp_path, rng):
    """An answers file without some eval ids was read only after training: every experiment trained in full,
    then failed when its eval split was scored."""
    import pandas as pd
    from conftest import write_image
    root = tmp_path / "partial"
    for i in range(12):
        write_image(root / "train" / "images" / f"t{i}.png", rng)
    pd.DataFrame({"path": [f"images/t{i}.png" for i in range(12)], "label": [0, 1] * 6}).to_csv(
        root / "train" / "train.csv", index=False)
    for i in range(3):
        write_image(root / "eval" / "images" / f"e{i}.png", rng)
    pd.DataFrame({"ImageID": [f"e{i}.png" for i in range(3)], "ans": ""}).to_csv(root / "eval" / "info.csv",
                                                                                index=False)
    pd.DataFrame({"ImageID": ["e0.png"], "ans": [1]}).to_csv(root / "answers.csv", index=False)
    (root / "competition.json").write_text('{"answers": "answers.csv"}')
    pytester.makepyfile(test_partial=f"""
        from competition.experiment import Experiment
        def test_it(run_experiment):
            run_experiment(Experiment("partial", data={str(root)!r}, model="rescnn", model_kw={{"width": 4}},
                                      epochs=1, batch_size=4))
    """)
    result = pytester.runpytest("--budget=smoke", "--runs-dir=runs", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*answers.csv: no answer for 2 eval id(s)*"])
    assert not list((pytester.path / "runs").glob("folds/*")) and "epoch=" not in result.stdout.str()
