"""The fast recipe (fixtures.models.FAST): each technique against the recipe without it, three
seeds per side, on fashion holdout accuracy.

Measured at standard: see the claims below (figures in the issue note).
"""
from __future__ import annotations

import pytest

from competition.gates import assert_claim
from competition.posthoc import apply_tta
from fixtures.claims import stated_at
from fixtures.models import FAST

pytestmark = [pytest.mark.experiment, pytest.mark.claim, pytest.mark.slow]


def without(name: str, **changes):
    return FAST.with_(name=f"fast-no-{name}", **changes)


def model_kw(**changes) -> dict:
    return {**FAST.model_kw, **changes}


def optimizer_kw(**changes) -> dict:
    return {**FAST.optimizer_kw, **changes}


ABLATIONS = {  # technique -> (the recipe without it, the claim of the recipe against that)
    "whitening": (without("whitening", model_kw=model_kw(whiten=False)), "beats"),
    "dirac": (without("dirac", model_kw=model_kw(dirac=False)), "beats"),
    "fast_bn_momentum": (without("fast_bn_momentum", model_kw=model_kw(bn_momentum=0.1)), "beats"),
    "norm_lr_mult": (without("norm_lr_mult", optimizer_kw=optimizer_kw(norm_lr_mult=1.0)), "beats"),
    "lookahead": (without("lookahead", optimizer_kw=optimizer_kw(lookahead_steps=0)), "beats"),
    "nesterov": (without("nesterov", optimizer_kw=optimizer_kw(nesterov=False)), "beats"),
    "label_smoothing": (without("label_smoothing", loss="cross_entropy", loss_kw={}), "beats"),
    "alternating_flip": (without("alternating_flip", augmentation="crop_flip"), "beats"),
}


@pytest.mark.parametrize("technique", ABLATIONS)
def test_each_technique_of_the_fast_recipe(technique, run_experiment, budget):
    stated_at(budget, "standard", "full")
    recipe_without, claim = ABLATIONS[technique]
    assert_claim(run_experiment(FAST), run_experiment(recipe_without), claim, metric="accuracy")


def test_multi_crop_tta_on_the_fast_recipe(run_experiment, budget, competition_session):
    stated_at(budget, "standard", "full")
    fast = run_experiment(FAST)
    with_tta = apply_tta(fast, ("identity", "hflip", "shift:1"), "mean", competition_session.context())
    competition_session.keep(with_tta)
    assert_claim(with_tta, fast, "beats", metric="accuracy")
