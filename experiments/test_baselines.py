"""Baselines across models on fashion: each clears its floor, generalises and
beats the most-frequent-class model; none regresses against its baseline.

Thresholds are measured per budget (see the module's MEASURED comment) with margin.
"""
from __future__ import annotations

import pytest

from competition.gates import assert_beats_dummy, assert_gap_below, assert_metric_floor, assert_no_regression
from fixtures.models import BASELINE_MODELS

pytestmark = pytest.mark.experiment

# The lower 95% bootstrap bound of holdout macro F1 must clear these floors.
# Measured at smoke (3,000 train images, 5 epochs, 600 holdout rows; CPU, seed 0), point [lower bound]:
#   small_cnn 0.797 [0.769], resnet18 0.808 [0.777], efficientnet_lite0 0.763 [0.731];
# floors sit 0.03 below the measured lower bounds. Standard: inferred, not yet measured by this
# test: the same 6-epoch small CNN reached 0.912 eval accuracy in benchmarks/bench_train.py.
FLOOR = {
    "smoke": {"small_cnn": 0.74, "resnet18": 0.74, "efficientnet_lite0": 0.70},
    "standard": {"small_cnn": 0.89},
}
# measured gaps at smoke: -0.022 .. 0.019; no ceiling is stated for a budget not yet measured
MAX_GAP = {"smoke": 0.06}


@pytest.fixture(params=BASELINE_MODELS, ids=lambda spec: spec.name)
def baseline(request, run_experiment):
    return run_experiment(request.param)


def test_beats_most_frequent_class(baseline):
    assert_beats_dummy(baseline)


def test_clears_metric_floor(baseline, budget):
    floor = FLOOR.get(budget.name, {}).get(baseline.name)
    if floor is None:
        pytest.skip(f"no floor measured for {baseline.name} at budget {budget.name!r}")
    assert_metric_floor(baseline, floor)


def test_generalisation_gap(baseline, budget):
    if budget.name not in MAX_GAP:
        pytest.skip(f"no gap ceiling measured at budget {budget.name!r}")
    assert_gap_below(baseline, MAX_GAP[budget.name])


def test_no_regression_against_baseline(baseline, baselines):
    assert_no_regression(baseline, baselines, tolerance=0.01)
