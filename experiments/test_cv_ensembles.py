"""Stratified 5-fold CV with OOF predictions, bagging and ensembles against single models.

Measured at smoke (fashion, 3,000 train images, 5 epochs, CPU, seed 0):
  5-fold macro F1 per fold 0.774 0.796 0.774 0.758 0.775 (std 0.0135)
  5-fold soft vote vs the holdout model, eval accuracy: +0.0089 [0.0049, 0.0129]
  ensembles of small_cnn, resnet18 and efficientnet_lite0 vs the best member (resnet18), OOF macro F1:
    soft vote +0.023 [0.005, 0.043]; hard vote +0.015 [-0.002, 0.032];
    weighted vote +0.006 [-0.001, 0.013]; stacking +0.017 [-0.011, 0.045]
  bagging (3 bootstrap members): OOB macro F1 0.774 [0.759, 0.788], coverage 0.748
  HistGradientBoosting on frozen ImageNet efficientnet_lite0 features: OOF macro F1 0.704;
    its soft vote with small_cnn is worse than small_cnn alone: -0.039 [-0.070, -0.008]
"""
from __future__ import annotations

import numpy as np
import pytest

from competition import ensemble
from competition.gates import assert_beats, assert_expected, assert_fold_std_below, assert_metric_floor
from fixtures.models import BASELINE_MODELS, EFFICIENTNET_LITE0, SMALL_CNN

pytestmark = pytest.mark.experiment

MAX_FOLD_STD = {"smoke": 0.03}  # measured 0.0135; other budgets not yet measured
# measured at smoke: bagged OOB macro F1 0.774 [0.759, 0.788]; floor 0.03 below the lower bound
BAGGING_FLOOR = {"smoke": 0.73}
BOOSTING_VOTE_EXPECTED = {"smoke": "loses"}  # measured; standard states no expectation beyond not-worse
ENSEMBLE_EXPECTED = {
    "smoke": {"soft_vote": "beats", "hard_vote": "no_difference", "weighted_vote": "no_difference",
              "stacking": "no_difference"},
    "standard": {"soft_vote": "beats", "hard_vote": "not_worse:0.005", "weighted_vote": "not_worse:0.005",
                 "stacking": "not_worse:0.005"},
}


def test_cv_predicts_every_train_row_exactly_once(small_cnn_cv):
    assert len(np.unique(small_cnn_cv.oof_index)) == len(small_cnn_cv.oof_index) == small_cnn_cv.train_rows
    assert len(small_cnn_cv.folds) == 5


def test_cv_fold_variance(small_cnn_cv, budget):
    if budget.name not in MAX_FOLD_STD:
        pytest.skip(f"no fold-variance ceiling measured at budget {budget.name!r}")
    assert_fold_std_below(small_cnn_cv, MAX_FOLD_STD[budget.name])


def test_cv_soft_vote_beats_single_model_on_eval(small_cnn_cv, small_cnn, fashion, eval_answers_of):
    answers = eval_answers_of(fashion)
    assert_beats(ensemble.on_eval(small_cnn_cv, answers), ensemble.on_eval(small_cnn, answers), metric="accuracy")


@pytest.fixture(scope="module")
def members(run_experiment):
    return [run_experiment(spec) for spec in BASELINE_MODELS]


@pytest.mark.parametrize("how", ["soft_vote", "hard_vote", "weighted_vote", "stacking"])
def test_ensemble_of_models_against_best_member(members, how, competition_session, fashion, eval_answers_of,
                                                budget):
    combined = getattr(ensemble, how)(members, name=f"ensemble-{how}", answers=eval_answers_of(fashion))
    competition_session.results[combined.name] = combined
    best = max(members, key=lambda r: r.score())
    assert_expected(combined, best, ENSEMBLE_EXPECTED.get(budget.name, ENSEMBLE_EXPECTED["standard"])[how])


def test_bagging_scores_out_of_bag(run_experiment, budget):
    bagged = run_experiment(SMALL_CNN.with_(name="small_cnn-bagging3", cv="bootstrap:3"))
    # a row is out of bag for one member with odds (1 - 1/n)^n ~ 1/e, so for at least one
    # of 3 members with odds 1 - (1 - 1/e)^3 ~ 0.748 (measured: 0.748 of 3,000 rows)
    coverage = len(bagged.oof_index) / bagged.train_rows
    assert 0.72 < coverage < 0.78, f"OOB coverage {coverage:.3f}"
    if budget.name in BAGGING_FLOOR:
        assert_metric_floor(bagged, BAGGING_FLOOR[budget.name])


def test_boosting_on_frozen_pretrained_features_as_a_member(small_cnn, competition_session, fashion,
                                                            eval_answers_of, budget):
    state = competition_session
    train_features, eval_features = ensemble.frozen_features(EFFICIENTNET_LITE0, state.budget, state.data_root,
                                                             state.device)
    answers = eval_answers_of(fashion)
    boosted = ensemble.boosting_on_features(small_cnn, train_features, eval_features, name="boosting-lite0-features",
                                            answers=answers, max_iter=100)
    duo = ensemble.soft_vote([small_cnn, boosted], name="vote-small_cnn+boosting", answers=answers)
    state.results.update({boosted.name: boosted, duo.name: duo})
    assert_expected(duo, small_cnn, BOOSTING_VOTE_EXPECTED.get(budget.name, "not_worse:0.005"))


LT_MEMBERS = ("lt-cross_entropy", "lt-weighted_ce", "lt-f1", "lt-focal")


@pytest.mark.parametrize("how", ["weighted_vote", "stacking"])
def test_long_tail_ensembles_against_soft_vote(how, run_experiment, fashion_lt, eval_answers_of,
                                               competition_session):
    from experiments.test_losses import CE, LOSSES
    specs = {CE.name: CE, **{spec.name: spec for spec in LOSSES.values()}}
    members = [run_experiment(specs[name]) for name in LT_MEMBERS]
    answers = eval_answers_of(fashion_lt)
    soft = ensemble.soft_vote(members, name="lt-soft_vote", answers=answers)
    other = getattr(ensemble, how)(members, name=f"lt-{how}", answers=answers)
    competition_session.results.update({soft.name: soft, other.name: other})
    assert_expected(other, soft, "not_worse:0.03", metric="macro_f1")
