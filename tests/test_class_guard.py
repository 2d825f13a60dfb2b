"""The per-class recall guard on synthetic eval predictions: its false-alarm rate on unchanged models (A/A, by
simulation) stays at what Holm's correction promises, and it catches a fault in one or two classes that the
average hides."""
from __future__ import annotations

import numpy as np
import pytest

from competition import gates
from competition.baselines import Baselines
from competition.experiment import Provenance, Result

C, ROWS_PER_CLASS = 10, 300
ANSWERS = np.repeat(np.arange(C), ROWS_PER_CLASS)
BASE_RECALL = np.linspace(0.55, 0.95, C)


def eval_result(rng, seeds: int, recall=BASE_RECALL, seed_sd: float = 0.03, swap: tuple | None = None) -> Result:
    """A result whose seed s recalls class c with probability recall[c] + a per-seed, per-class draw; `swap`
    exchanges the predictions of two classes (a label map fault)."""
    stacks = []
    for _ in range(seeds):
        per_class = np.clip(recall + rng.normal(0, seed_sd, C), 0, 1)
        right = rng.random(len(ANSWERS)) < per_class[ANSWERS]
        pred = np.where(right, ANSWERS, (ANSWERS + rng.integers(1, C, len(ANSWERS))) % C)
        if swap:
            a, b = swap
            pred = np.where(pred == a, b, np.where(pred == b, a, pred))
        probs = np.full((len(ANSWERS), C), 0.01)
        probs[np.arange(len(ANSWERS)), pred] = 0.91
        stacks.append(probs)
    seed_probs = np.stack(stacks)
    folds = [{"fold": 0, "seed": s, "val_metrics": {"accuracy": 0.8}, "train_metrics": {"accuracy": 0.8}}
             for s in range(seeds)]
    return Result(name="guard", spec={}, budget="smoke", key="", class_names=[f"c{c}" for c in range(C)],
                  metric="accuracy", y=ANSWERS, oof_index=np.arange(len(ANSWERS)), oof_probs=seed_probs.mean(0),
                  eval_ids=np.arange(len(ANSWERS)), eval_probs=seed_probs.mean(0), folds=folds, seconds=1.0,
                  seed_oof_probs=seed_probs, seed_eval_probs=seed_probs, provenance=Provenance(data_fingerprint="fp"))


def recorded(tmp_path, rng, seeds: int = 8) -> Baselines:
    folder = tmp_path / "baselines"
    gates.assert_no_class_regression(eval_result(rng, seeds), Baselines(folder, update=True), ANSWERS)
    return Baselines(folder)


def test_holm_rejects_in_order_and_stops_at_the_first_that_holds():
    p = np.array([0.0001, 0.02, 0.004, 0.5])
    assert gates.holm_rejections(p, 0.05).tolist() == [True, True, True, False]  # 0.0125, 0.0167, 0.025
    assert gates.holm_rejections(p, 0.01).tolist() == [True, False, False, False]


def test_unchanged_models_trip_the_guard_at_most_as_often_as_promised(tmp_path):
    """A/A: 300 baselines of 8 seeds against 3 new seeds of the same model, 10 classes."""
    rng = np.random.default_rng(20261201)
    trials, alarms = 300, 0
    for trial in range(trials):
        baselines = recorded(tmp_path / str(trial), rng)
        try:
            gates.assert_no_class_regression(eval_result(rng, 3), baselines, ANSWERS)
        except AssertionError:
            alarms += 1
    allowed = 0.01 + 2 * np.sqrt(0.01 * 0.99 / trials)
    assert alarms / trials <= allowed, f"{alarms} false alarms in {trials} A/A trials; promised 1%"


def test_two_swapped_classes_are_caught_though_the_average_hides_them(tmp_path):
    rng = np.random.default_rng(1)
    baselines = recorded(tmp_path, rng)
    with pytest.raises(AssertionError, match=r"recall fell in 2 of 10 classes.*'c3'.*'c7'"):
        gates.assert_no_class_regression(eval_result(rng, 3, swap=(3, 7)), baselines, ANSWERS)


def test_one_class_given_up_is_caught_and_named(tmp_path):
    rng = np.random.default_rng(2)
    baselines = recorded(tmp_path, rng)
    minority_lost = BASE_RECALL.copy()
    minority_lost[0] -= 0.25
    with pytest.raises(AssertionError, match=r"in 1 of 10 classes.*'c0'"):
        gates.assert_no_class_regression(eval_result(rng, 3, minority_lost), baselines, ANSWERS)


def test_a_baseline_without_class_recall_asks_to_be_re_recorded(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "baselines"
    gates.assert_no_regression(eval_result(rng, 3), Baselines(folder, update=True), "score")
    with pytest.raises(AssertionError, match="no per-class recall; re-record"):
        gates.assert_no_class_regression(eval_result(rng, 3), Baselines(folder), ANSWERS)
