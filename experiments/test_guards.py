"""Guards: what CI gates on, on every commit.

The guard models (fixtures.models.GUARD_MODELS: the small CNN on fashion, and with
class weights on the long-tailed fashion-lt) train with 3 seeds; each guard compares it
with a baseline recorded from 8 seeds of the same
spec (fixtures/baselines/small_cnn.<budget>.json, with its environment). The
regression tolerance is the one-sided 99% Student-t bound of a mean of 3 new
seeds against the 8 recorded ones, so a re-run with other seeds or another
thread count fails a guard at most 1% of the time (tests: experiments/
test_gate_power.py measures the faults each guard catches and the A/A runs).

Recording a baseline: `pytest experiments/test_guards.py --budget=smoke --update-baselines`.
"""
from __future__ import annotations

import pytest

from competition.gates import assert_no_regression, assert_submission_ready
from competition.guards import assert_agrees_with_previous
from competition.submission import write_submission
from fixtures.guards import RESULT_GUARDS, require_baselines
from fixtures.models import BASELINE_SEEDS, EFFICIENTNET_LITE0, GUARD, GUARD_MODELS, RESNET18

pytestmark = [pytest.mark.experiment, pytest.mark.guard]


@pytest.mark.parametrize("guard", RESULT_GUARDS)
@pytest.mark.parametrize("data", GUARD_MODELS)
def test_guard_model(data, guard, baselines, budget, load_competition_by_name, eval_answers_of, run_experiment):
    spec = GUARD_MODELS[data]
    require_baselines(baselines, budget, spec.name)
    result = run_experiment(spec.with_(seeds=BASELINE_SEEDS) if baselines.update else spec)
    RESULT_GUARDS[guard](result, baselines, eval_answers_of(load_competition_by_name(data)))


@pytest.mark.slow
@pytest.mark.parametrize("spec", [RESNET18, EFFICIENTNET_LITE0], ids=lambda spec: spec.name)
def test_other_baseline_models_do_not_regress(spec, run_experiment, baselines, budget, fashion, eval_answers_of):
    """One seed each in CI, against a baseline of 3: a wider tolerance, still far tighter than a fixed floor."""
    require_baselines(baselines, budget, spec.name)
    result = run_experiment(spec.with_(seeds=3) if baselines.update else spec)
    assert_no_regression(result, baselines, "eval", eval_answers_of(fashion))


def test_submission_is_valid_and_close_to_the_previous_one(fashion, competition_session, baselines, budget,
                                                            request):
    """The submission validates; against the stored previous one it agrees at least as well as two
    single seeds of the unchanged model agree with each other (the A/A spread, measured each run)."""
    require_baselines(baselines, budget, GUARD.name)
    guard_result = request.getfixturevalue("guard_result")
    path = competition_session.reports / "submission.csv"
    submission = write_submission(guard_result, fashion, path)
    assert_submission_ready(submission, fashion)
    previous = baselines.folder / f"submission.{competition_session.budget.name}.csv"
    assert_agrees_with_previous(submission, previous, guard_result, fashion, update=baselines.update)
