"""Guards and claims on synthetic Results with several seeds: the statistics alone, fast."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from competition import gates
from competition.baselines import Baselines
from competition.errors import ConfigError
from competition.experiment import Provenance, Result
from competition.metrics import one_row_step, paired_bootstrap, resample_weights

N, C = 600, 3
Y = np.random.default_rng(0).integers(0, C, N)


def model_probs(accuracy: float, seed: int) -> np.ndarray:
    """Probabilities whose argmax is right on about `accuracy` of the rows; each seed errs on other rows."""
    rng = np.random.default_rng(seed)
    right = rng.random(N) < accuracy
    pred = np.where(right, Y, (Y + rng.integers(1, C, N)) % C)
    probs = np.full((N, C), 0.1)
    probs[np.arange(N), pred] = 0.8
    return probs


def result(name: str, accuracies, seed0: int = 0, groups=None) -> Result:
    seeds = np.stack([model_probs(a, seed0 + s) for s, a in enumerate(accuracies)])
    folds = [{"fold": 0, "seed": s, "val_metrics": {"macro_f1": 0.5, "accuracy": 0.5},
              "train_metrics": {"macro_f1": 0.6, "accuracy": 0.6}} for s in range(len(accuracies))]
    return Result(name=name, spec={}, budget="smoke", key="", class_names=list("abc"), metric="accuracy",
                  y=Y, oof_index=np.arange(N), oof_probs=seeds.mean(0), eval_ids=np.array(["e"]),
                  eval_probs=seeds.mean(0)[:1], folds=folds, seconds=1.0, seed_oof_probs=seeds,
                  seed_eval_probs=seeds[:, :1], groups=groups, provenance=Provenance(data_fingerprint="fp"))


# --- the two-level bootstrap ----------------------------------------------------------------------
def test_seed_variance_widens_the_interval_and_the_mde():
    steady = result("steady", [0.80, 0.80, 0.80], seed0=0)
    wobbly = result("wobbly", [0.70, 0.80, 0.90], seed0=0)
    base = result("base", [0.80, 0.80, 0.80], seed0=10)
    tight = paired_bootstrap("accuracy", Y, steady.seed_probs(), base.seed_probs())
    wide = paired_bootstrap("accuracy", Y, wobbly.seed_probs(), base.seed_probs())
    assert wide["high"] - wide["low"] > 2 * (tight["high"] - tight["low"])
    assert wide["mde"] > 2 * tight["mde"] and wide["seeds_a"] == 3


def test_rows_are_resampled_within_class_or_by_group():
    weights = resample_weights(Y, None, n_boot=50, seed=0)
    for label in range(C):  # every resample keeps the class counts
        assert np.all(weights[:, Y == label].sum(1) == (Y == label).sum())
    groups = np.repeat(np.arange(N // 6), 6)
    by_group = resample_weights(Y, groups, n_boot=50, seed=0)
    assert np.all(by_group.reshape(50, -1, 6).std(axis=2) == 0)  # a group's rows rise and fall together


# --- claims ----------------------------------------------------------------------------------------
def test_a_clear_win_passes_and_a_single_seed_is_underpowered():
    better, worse = result("better", [0.9, 0.9, 0.9]), result("worse", [0.6, 0.6, 0.6], seed0=10)
    cmp = gates.assert_claim(better, worse, "beats", effect=0.1)
    assert cmp["low"] > 0.2 and cmp["mde"] < 0.1
    gates.assert_claim(worse, better, "loses", effect=0.1)
    with pytest.raises(gates.Underpowered, match="needs at least 2"):
        gates.assert_claim(result("one", [0.9]), worse, "beats", effect=0.1)


def test_a_powered_claim_that_does_not_hold_fails():
    same_a, same_b = result("a", [0.8, 0.8, 0.8]), result("b", [0.8, 0.8, 0.8], seed0=10)
    with pytest.raises(AssertionError, match="does not beat"):
        gates.assert_claim(same_a, same_b, "beats", effect=0.1)  # a 10-point gain would have been seen


def test_a_small_effect_with_noisy_seeds_is_underpowered_not_passed():
    noisy = result("noisy", [0.70, 0.85, 0.95])
    base = result("base", [0.78, 0.80, 0.82], seed0=10)
    with pytest.raises(gates.Underpowered, match="MDE .* is larger than the effect 0.0500.*seeds per side"):
        gates.assert_claim(noisy, base, "beats", effect=0.05)


def test_equivalence_is_two_one_sided_tests_with_a_margin():
    a, b = result("a", [0.8, 0.8, 0.8]), result("b", [0.8, 0.8, 0.8], seed0=10)
    cmp = gates.assert_claim(a, b, "equivalent:0.05")
    assert -0.05 < cmp["low"] and cmp["high"] < 0.05 and cmp["level"] == pytest.approx(0.90)
    with pytest.raises(AssertionError, match="not equivalent within"):
        gates.assert_claim(result("c", [0.9, 0.9, 0.9]), b, "equivalent:0.05")
    with pytest.raises(gates.Underpowered):
        gates.assert_claim(a, b, "equivalent:0.005")  # the interval is wider than the margin
    for margin in (0, -0.1, None):
        with pytest.raises(ConfigError, match="margin"):
            gates.assert_claim(a, b, f"equivalent:{margin}")


def test_equivalence_of_two_broken_models_proves_nothing():
    constant = np.zeros((3, N, C))
    constant[:, :, 0] = 1
    broken = [Result(**{**result(name, [0.8] * 3).__dict__, "seed_oof_probs": constant,
                        "oof_probs": constant[0]}) for name in ("x", "y")]
    with pytest.raises(AssertionError, match="most-frequent-class"):
        gates.assert_claim(*broken, "equivalent:0.05")


def test_claims_by_name():
    a, b = result("a", [0.9, 0.9, 0.9]), result("b", [0.6, 0.6, 0.6], seed0=10)
    gates.assert_claim(a, b, "beats:0.1")
    gates.assert_claim(b, a, "loses", effect=0.1)
    gates.assert_claim(a, b, "not_worse:0.01")
    for bad in ("no_difference", "equivalent", "equivalent:x", "better", "beats:x", "beats"):
        with pytest.raises(ConfigError):
            gates.assert_claim(a, b, bad)


def test_different_samples_are_refused():
    a = result("a", [0.8, 0.8])
    other = Result(**{**a.__dict__, "oof_index": np.arange(N) + 1})
    with pytest.raises(ConfigError, match="different samples"):
        gates.assert_claim(a, other, "beats", effect=0.01)


# --- the regression guard -------------------------------------------------------------------------
def baseline_of(tmp_path, accuracies) -> Baselines:
    folder = tmp_path / "baselines"
    gates.assert_no_regression(result("guard", accuracies, seed0=100), Baselines(folder, update=True))
    return Baselines(folder)


def test_regression_tolerance_comes_from_the_seed_spread(tmp_path):
    baselines = baseline_of(tmp_path, [0.80, 0.81, 0.79, 0.80, 0.82, 0.78, 0.80, 0.80])
    limits = gates.assert_no_regression(result("guard", [0.80, 0.79, 0.81], seed0=200), baselines)
    assert 0.005 < limits["tolerance"] < 0.05 and limits["n_base"] == 8 and limits["sd_floor"] == 0
    with pytest.raises(AssertionError, match=r"regressed to .* worse by .* expected at most"):
        gates.assert_no_regression(result("guard", [0.70, 0.71, 0.69], seed0=200), baselines)


def test_the_gap_measure_fails_when_the_gap_grows(tmp_path):
    baselines = baseline_of(tmp_path, [0.80, 0.81, 0.79, 0.80])
    wide_gap = result("guard", [0.80, 0.80, 0.80], seed0=200)
    for fold in wide_gap.folds:
        fold["train_metrics"]["accuracy"] = 1.0
    with pytest.raises(AssertionError, match="gap"):
        gates.assert_no_regression(wide_gap, baselines, measure="gap")


def test_baselines_refuse_other_data_other_libraries_and_too_few_seeds(tmp_path):
    baselines = baseline_of(tmp_path, [0.80, 0.81, 0.79])
    path = baselines.path("guard", "smoke")
    records = json.loads(path.read_text())
    with pytest.raises(AssertionError, match="holds baselines for different data"):
        gates.assert_no_regression(replace(result("guard", [0.8]), provenance=Provenance(data_fingerprint="other")),
                                   baselines)
    records["fp"]["environment"]["libraries"]["torch"] = "1.0"
    path.write_text(json.dumps(records))
    with pytest.raises(ConfigError, match=r"other library versions \{'torch': '1.0'\}"):
        gates.assert_no_regression(result("guard", [0.8]), baselines)
    small = baseline_of(tmp_path / "small", [0.8, 0.8])
    with pytest.raises(ConfigError, match="at least 3 seeds"):
        gates.assert_no_regression(result("guard", [0.8]), small)


def with_eval(run: Result, answers: np.ndarray, misses_per_seed) -> Result:
    """The run with eval predictions on `answers` that miss the given number of rows per seed."""
    probs = np.full((len(misses_per_seed), len(answers), C), 0.1)
    for seed, misses in enumerate(misses_per_seed):
        predicted = answers.copy()
        predicted[:misses] = (answers[:misses] + 1) % C
        probs[seed, np.arange(len(answers)), predicted] = 0.8
    return replace(run, seed_eval_probs=probs, eval_probs=probs.mean(0), eval_ids=np.arange(len(answers)))


def test_seeds_that_tie_on_a_small_eval_split_still_allow_one_row(tmp_path):
    """Eight seeds all perfect on 30 eval rows measure a spread of 0; an unchanged model whose new seeds miss one
    row between them must pass, and one that misses a tenth of the rows on every seed must still fail."""
    answers, folder = Y[:30], tmp_path / "baselines"
    gates.assert_no_regression(with_eval(result("guard", [0.8] * 8), answers, [0] * 8),
                               Baselines(folder, update=True), "eval", answers)
    limits = gates.assert_no_regression(with_eval(result("guard", [0.8] * 3, seed0=50), answers, [1, 0, 0]),
                                        Baselines(folder), "eval", answers)
    assert limits["measured_sd"] == 0 and limits["sd"] == limits["sd_floor"] == pytest.approx(1 / 30)
    with pytest.raises(AssertionError, match=r"floored at one row's worth 0.0333"):
        gates.assert_no_regression(with_eval(result("guard", [0.8] * 3, seed0=50), answers, [3, 3, 3]),
                                   Baselines(folder), "eval", answers)


def test_one_row_step_is_the_resolution_of_a_metric_that_reads_the_predicted_class():
    probs = model_probs(0.8, 0)[:30]
    assert one_row_step("accuracy", Y[:30], probs) == pytest.approx(1 / 30)
    assert 0 < one_row_step("macro_f1", Y[:30], probs) < 0.1
    assert one_row_step("log_loss", Y[:30], probs) == 0 and one_row_step("roc_auc", Y[:30], probs) == 0


def test_the_a_a_false_alarm_rate_of_the_guard_holds_on_seeds_that_tie():
    """Simulated unchanged models scored on a small split: each seed misses a Poisson number of rows, so the
    eight baseline seeds often tie. Unfloored, the guard alarms on over a tenth of them; floored at one row it
    stays near its nominal 1% (the t quantile assumes normal seeds; Poisson counts are skewed)."""
    rng, rows = np.random.default_rng(0), 30
    for mean_misses in (0.1, 0.3, 1.0, 4.0):
        alarms = {0.0: 0, 1 / rows: 0}
        draws = 3000
        for _ in range(draws):
            base, new = 1 - rng.poisson(mean_misses, 8) / rows, 1 - rng.poisson(mean_misses, 3) / rows
            for step in alarms:
                limits = gates.regression_tolerance(base, 3, 0.01, step)
                alarms[step] += limits["mean"] - new.mean() > limits["tolerance"] + 1e-12
        assert alarms[1 / rows] / draws < 0.025, (mean_misses, alarms)
        if mean_misses <= 0.3:
            assert alarms[0.0] / draws > 0.05, (mean_misses, alarms)


def test_recording_one_measure_keeps_the_others_of_the_same_run(tmp_path):
    folder = tmp_path / "baselines"
    run_ = result("guard", [0.80, 0.81, 0.79])
    answers = Y[:1]
    gates.assert_no_regression(run_, Baselines(folder, update=True), "eval", answers)
    gates.assert_no_regression(run_, Baselines(folder, update=True), "score")
    measures = Baselines(folder).get(run_)["measures"]
    assert set(measures) == {"score", "gap", "eval", "class_recall"} and len(measures["eval"]) == 3


def test_an_interval_wholly_on_the_wrong_side_decides_even_with_a_large_mde():
    noisy_worse = result("noisy", [0.50, 0.55, 0.60])  # a wide spread, and far below
    base = result("base", [0.80, 0.80, 0.80], seed0=10)
    with pytest.raises(AssertionError, match="does not beat"):
        gates.assert_claim(noisy_worse, base, "beats", effect=0.01)
    with pytest.raises(AssertionError, match="worse than base .* by more than 0.0100"):
        gates.assert_claim(noisy_worse, base, "not_worse:0.01")


def test_a_claim_states_its_effect_and_a_null_result_with_power_fails():
    """A technique that silently stopped working (delta 0) must fail a claim stated at its measured effect,
    never end as a skip: the interval excludes the effect the claim is about."""
    same_a, same_b = result("a", [0.8, 0.8, 0.8]), result("b", [0.8, 0.8, 0.8], seed0=10)
    with pytest.raises(ConfigError, match="state the smallest effect"):
        gates.assert_claim(same_a, same_b, "beats")
    with pytest.raises(AssertionError, match="excludes the stated effect 0.2000"):
        gates.assert_claim(same_a, same_b, "beats", effect=0.2)


def test_the_seeds_needed_follow_the_same_variance_model():
    noisy = result("noisy", [0.70, 0.85, 0.95])
    base = result("base", [0.78, 0.80, 0.82], seed0=10)
    cmp = gates.compare(noisy, base, "accuracy", 0.95)
    needed = gates.seeds_needed(cmp, 0.05)
    assert needed > 3
    grown = {**cmp, "seed_var": cmp["seed_var"] * 3 / needed, "seeds_a": needed, "seeds_b": needed}
    assert gates.seeds_needed(grown, 0.05) == needed  # at that many seeds the MDE reaches the effect
