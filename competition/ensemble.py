"""Layer 5. Ensembles: Results in, Result out, so every metric and gate applies to them.

- soft_vote / hard_vote: mean probabilities / majority of argmax votes;
- weighted_vote: weights fit on OOF predictions (minimising log loss);
- stacking: logistic regression on members' OOF probabilities, itself
  cross-validated so it never scores rows it was fit on;
- boosting_on_features: HistGradientBoosting on frozen pretrained features;
- each seed of an ensemble combines the members' same seed, so ensembles keep
  the training variance that the gates bootstrap over;
- bagging is a CV scheme: Experiment(cv="bootstrap:K") trains K members on
  bootstrap resamples and scores each row out of bag.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import numpy as np
from scipy.optimize import minimize
from scipy.special import softmax
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .data import CachedDataset
from .errors import ConfigError
from .files import check_folder_name
from .experiment import Provenance, scored_metrics
from .metrics import compute_metrics
from .models import create_model
from .registry import ENSEMBLES
from .runner import RunContext, plan
from .train import TrainConfig
from .train.loop import extract_features


def check_compatible(results) -> None:
    if len(results) < 2:
        raise ConfigError("an ensemble needs at least two results")
    first = results[0]
    for r in results[1:]:
        if not np.array_equal(r.oof_index, first.oof_index) or not np.array_equal(r.y, first.y):
            raise ConfigError(
                f"{r.name} and {first.name} were validated on different samples (OOF rows differ); "
                "ensemble results of the same data, budget and CV split"
            )
        if r.oof_probs.shape[1] != first.oof_probs.shape[1]:
            raise ConfigError(f"{r.name} has {r.oof_probs.shape[1]} classes, {first.name} {first.oof_probs.shape[1]}")
        if not np.array_equal(r.eval_ids, first.eval_ids):
            raise ConfigError(f"{r.name} and {first.name} predicted different eval ids")
        digest, first_digest = r.provenance.competition_digest, first.provenance.competition_digest
        if digest and first_digest and digest != first_digest:
            raise ConfigError(
                f"{r.name} was trained on competition content {digest}, {first.name} on "
                f"{first_digest}; rerun the older one on the data as it is now"
            )


def ensemble_result(results, name: str, how: str, combine: Callable, answers=None, **extra):
    """A Result whose seed s combines every member's seed s (as many seeds as the fewest member has).

    combine(list of member OOF probs, list of member eval probs) -> (OOF probs, eval probs)."""
    check_folder_name(name, "the ensemble's name")
    check_compatible(results)
    first = results[0]
    n_seeds = min(r.n_seeds for r in results)
    pairs = [combine([r.seed_probs()[s] for r in results], [r.seed_eval()[s] for r in results]) for s in range(n_seeds)]
    seed_oof = np.stack([oof for oof, _ in pairs]).astype(np.float32)
    seed_eval = np.stack([ev for _, ev in pairs]).astype(np.float32)
    members = [r.name for r in results]
    eval_probs = seed_eval.mean(0)
    inherited = {k: first.spec[k] for k in ("data", "cv") if k in first.spec}  # rows are the members' rows
    spec = {"ensemble": how, "members": members, "member_keys": [r.key for r in results], **inherited, **extra}
    trained_on = first.provenance  # the members' data: same rows, same competition content (check_compatible)
    provenance = Provenance(
        data_fingerprint=trained_on.data_fingerprint,
        competition_digest=trained_on.competition_digest,
        skipped=trained_on.skipped,
        train_rows=trained_on.train_rows,
        members=members,
        cache_hit=all(r.provenance.cache_hit for r in results),
    )
    return replace(
        first,
        name=name,
        spec=spec,
        key="",
        oof_probs=seed_oof.mean(0),
        eval_probs=eval_probs,
        seed_oof_probs=seed_oof,
        seed_eval_probs=seed_eval,
        folds=[],
        seconds=float(sum(r.seconds for r in results)),
        eval_metrics=compute_metrics(answers, eval_probs, scored_metrics(first.metric))
        if answers is not None
        else None,
        provenance=provenance,
    )


def create_ensemble(how: str, results, name: str | None = None, answers=None, **options):
    """The ensemble of `results` named `how` (ENSEMBLES: soft_vote, hard_vote, weighted_vote, stacking; an
    unknown name lists the known ones), as a Result named `name` (default: how)."""
    return ENSEMBLES.get(how)(results, name=name or how, answers=answers, **options)


@ENSEMBLES.register("soft_vote")
def soft_vote(results, name: str = "soft_vote", answers=None):
    return ensemble_result(results, name, "soft_vote", lambda oof, ev: (np.mean(oof, 0), np.mean(ev, 0)), answers)


def votes_to_probs(probs_list) -> np.ndarray:
    n, c = probs_list[0].shape
    votes = np.zeros((n, c))
    for probs in probs_list:
        votes[np.arange(n), probs.argmax(1)] += 1
    # ties break toward the summed probability, so the argmax is well defined
    return (votes + 1e-6 * np.sum(probs_list, 0)) / len(probs_list)


@ENSEMBLES.register("hard_vote")
def hard_vote(results, name: str = "hard_vote", answers=None):
    return ensemble_result(
        results, name, "hard_vote", lambda oof, ev: (votes_to_probs(oof), votes_to_probs(ev)), answers
    )


def fit_vote_weights(probs_list, y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the OOF log loss."""
    stacked = np.stack(probs_list)

    def loss(logits):
        mixed = np.tensordot(softmax(logits), stacked, axes=1)
        return -np.mean(np.log(np.clip(mixed[np.arange(len(y)), y], 1e-12, 1)))

    return softmax(
        minimize(
            loss,
            np.zeros(len(probs_list)),
            method="Nelder-Mead",
            options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 400},
        ).x
    )


@ENSEMBLES.register("weighted_vote")
def weighted_vote(results, name: str = "weighted_vote", answers=None, folds: int = 5, seed: int = 0):
    """Weights fit on OOF rows; the OOF score is itself cross-validated (weights fit on the other rows)."""
    y = results[0].y
    weights_seen = []

    def combine(oof, ev):
        mixed_oof = np.zeros_like(oof[0])
        for fit_rows, score_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(y, y):
            w = fit_vote_weights([p[fit_rows] for p in oof], y[fit_rows])
            mixed_oof[score_rows] = np.tensordot(w, np.stack([p[score_rows] for p in oof]), axes=1)
        weights = fit_vote_weights(oof, y)
        weights_seen.append(weights)
        return mixed_oof, np.tensordot(weights, np.stack(ev), axes=1)

    result = ensemble_result(results, name, "weighted_vote", combine, answers)
    result.spec["weights"] = [round(float(w), 4) for w in np.mean(weights_seen, 0)]
    return result


@ENSEMBLES.register("stacking")
def stacking(results, name: str = "stacking", answers=None, folds: int = 5, seed: int = 0, C: float = 1.0):
    """Logistic regression on concatenated member probabilities (log space), cross-validated."""
    y = results[0].y
    num_classes = results[0].oof_probs.shape[1]

    def combine(oof, ev):
        features = lambda probs: np.log(np.clip(np.hstack(probs), 1e-7, 1))
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        stacked_oof = cross_val_predict(model, features(oof), y, cv=cv, method="predict_proba")
        model.fit(features(oof), y)
        classes = model[-1].classes_
        return (
            expand_classes(stacked_oof, classes, num_classes),
            expand_classes(model.predict_proba(features(ev)), classes, num_classes),
        )

    return ensemble_result(results, name, "stacking", combine, answers)


def expand_classes(probs: np.ndarray, classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Put columns for classes absent from the fit rows back in (as zeros)."""
    full = np.zeros((len(probs), num_classes))
    full[:, classes] = probs
    return full


def boosting_on_features(
    reference,
    train_features: np.ndarray,
    eval_features: np.ndarray,
    name: str = "boosting",
    answers=None,
    folds: int = 5,
    seed: int = 0,
    **hgb_kw,
):
    """HistGradientBoosting on frozen features of the reference's OOF rows (cross-validated).

    One deterministic model: its Result has one seed."""
    started = time.perf_counter()
    y = reference.y
    model = HistGradientBoostingClassifier(random_state=seed, **{"max_iter": 200, "early_stopping": True, **hgb_kw})
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    x = train_features[reference.oof_index]
    c = reference.oof_probs.shape[1]

    def combine(oof, ev):
        boosted_oof = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        model.fit(x, y)
        return (
            expand_classes(boosted_oof, model.classes_, c),
            expand_classes(model.predict_proba(eval_features), model.classes_, c),
        )

    single = replace(reference, seed_oof_probs=None, seed_eval_probs=None)
    result = ensemble_result([single, single], name, "boosting_on_features", combine, answers)
    return replace(
        result,
        provenance=replace(result.provenance, members=[], cache_hit=False),
        seconds=time.perf_counter() - started,
    )


def frozen_features(experiment, budget="smoke", context: RunContext | None = None):
    """Backbone features of the experiment's (pretrained) model for its train table and eval split."""
    planned = plan(experiment, budget, context, choose_path=False)
    data, device = planned.data, planned.device
    model = create_model(
        experiment.model,
        data.num_classes,
        in_chans=data.images.shape[3],
        input_size=data.images.shape[1:3],
        pretrained=experiment.pretrained,
        **experiment.model_kw,
    ).to(device)
    cfg = TrainConfig(device=device, eval_batch_size=256)
    train = extract_features(model, CachedDataset(data.images), cfg).numpy()
    eval_ = (
        extract_features(model, CachedDataset(data.eval_images), cfg).numpy()
        if data.eval_images is not None
        else np.zeros((0, train.shape[1]), train.dtype)
    )  # no eval split: no eval rows
    return train, eval_


def member_spread(results) -> dict:
    """Bootstrap/bagging uncertainty: how much members disagree, per sample."""
    stacked = np.stack([r.oof_probs for r in results])
    top = stacked.mean(0).argmax(1)
    agreement = np.mean([r.oof_probs.argmax(1) == top for r in results], axis=0)
    return {
        "mean_std_of_top_class_prob": float(stacked[:, np.arange(len(top)), top].std(0).mean()),
        "mean_agreement": float(agreement.mean()),
        "unanimous_share": float((agreement == 1).mean()),
    }
