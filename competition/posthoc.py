"""Layer 5. Post-hoc work on stored Results: re-predict the stored unit models
(test-time augmentation) without retraining. Results in, Results out.

A post-hoc Result (TTA here, an ensemble from competition.ensemble) is stored one
way, save_posthoc: under the key of its spec, which names what it was made from
(the TTA'd result's key, the members' keys), with the data and the budget.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .data import CachedDataset
from .data.splits import cv_entry
from .errors import ConfigError
from .experiment import Budget, Experiment, Result
from .models import create_model
from .runner import RunContext, plan
from .store import Store
from .tta import tta_predict


def posthoc_key(store: Store, spec: dict, trained_on: Result) -> str:
    """The store key of a post-hoc Result with this spec, made from `trained_on` (its data and budget)."""
    return store.key({"posthoc": spec}, trained_on.provenance.data_fingerprint, trained_on.budget)


def save_posthoc(result: Result, store: Store) -> Result:
    """Store a post-hoc Result under posthoc_key; returns it with that key."""
    keyed = replace(result, key=posthoc_key(store, result.spec, result))
    store.save_result(keyed.key, keyed)
    return keyed


def experiment_of(result: Result) -> Experiment:
    return Experiment.from_dict(result.name, {**result.spec, "tta": ()})


def apply_tta(
    result: Result,
    views=("identity", "hflip"),
    how: str = "mean",
    context: RunContext | None = None,
    name: str | None = None,
    budget: Budget | None = None,
) -> Result:
    """A new Result: every stored unit model of `result` re-predicted with TTA (no retraining).

    budget: the Budget the result was trained at, where it is not one of the named budgets."""
    context = context or RunContext()
    store = context.store
    if store is None or not result.provenance.unit_key:
        raise ConfigError(
            f"{result.name}: TTA after training needs the unit weights from the store; run the experiment with a store"
        )
    name = name or f"{result.name}+tta"
    spec = {**result.spec, "tta": list(views), "tta_merge": how, "tta_of": result.key}
    if not context.rerun and (hit := store.load_result(posthoc_key(store, spec, result), name)) is not None:
        return hit
    experiment = experiment_of(result)
    if cv_entry(experiment.cv_scheme()[0]).predicts == "out_of_bag":
        raise ConfigError(
            f"{result.name}: apply_tta does not support bagged results (a row is predicted by "
            "several members); set tta in the Experiment"
        )
    planned = plan(experiment, budget or result.budget, context, choose_path=False)
    data = planned.data
    if data.fingerprint != result.provenance.data_fingerprint:
        raise ConfigError(
            f"{result.name}: trained on data {result.provenance.data_fingerprint}, but "
            f"{experiment.data} is now {data.fingerprint} (its images or labels changed); rerun the "
            "experiment before TTA"
        )
    position = {row: i for i, row in enumerate(result.oof_index)}
    seeds, device = planned.seeds, planned.device
    seed_oof = np.zeros((len(seeds), *result.oof_probs.shape), np.float32)
    seed_eval = np.zeros((len(seeds), *result.eval_probs.shape), np.float32)
    folds_per_seed = len(planned.units) // len(seeds)
    for unit in planned.units:
        weights = store.verified_weights(result.provenance.unit_key, unit.label)
        model = create_model(
            experiment.model,
            len(result.class_names),
            in_chans=data.images.shape[3],
            input_size=data.images.shape[1:3],
            pretrained=weights,
            **experiment.model_kw,
        )
        s = seeds.index(unit.seed)
        rows = [position[r] for r in unit.val_idx]
        seed_oof[s, rows] = tta_predict(model, CachedDataset(data.images[unit.val_idx]), views, how, device=device)
        if data.eval_images is not None:  # a competition without an eval split has no eval rows to predict
            seed_eval[s] += (
                tta_predict(model, CachedDataset(data.eval_images), views, how, device=device) / folds_per_seed
            )
    with_tta = replace(
        result,
        name=name,
        oof_probs=seed_oof.mean(0),
        eval_probs=seed_eval.mean(0),
        seed_oof_probs=seed_oof,
        seed_eval_probs=seed_eval,
        spec=spec,
        eval_metrics=None,
        provenance=replace(result.provenance, cache_hit=False, path=None),
    )
    return save_posthoc(with_tta, store)
