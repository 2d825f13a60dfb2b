"""The fast recipe (fixtures.models.FAST): each technique against the recipe without it, three
seeds per side, on fashion holdout accuracy.

Measured at standard (12,000 images, holdout n=2,400, 8 epochs, 2 CPU threads), the recipe
0.9032 (seeds 0.9046 0.8988 0.9062); delta of the recipe against it without the technique
[95% two-level bootstrap], MDE:
  whitening stem        +0.0044 [-0.0043, +0.0138]  MDE 0.0132
  dirac init            -0.0029 [-0.0104, +0.0051]  MDE 0.0117
  fast BN momentum      +0.0004 [-0.0060, +0.0078]  MDE 0.0093
  norm_lr_mult 16       +0.0064 [-0.0013, +0.0150]  MDE 0.0115
  lookahead             -0.0029 [-0.0121, +0.0065]  MDE 0.0132
  Nesterov              -0.0024 [-0.0103, +0.0054]  MDE 0.0113
  label smoothing       -0.0008 [-0.0097, +0.0083]  MDE 0.0126
  alternating flip      +0.0001 [-0.0078, +0.0081]  MDE 0.0112
  6-view TTA            +0.0040 [-0.0019, +0.0113]  MDE 0.0093
No technique beats its ablation at this budget: three seeds resolve about a point, and each
effect is under that (10 seeds per side would be needed for norm_lr_mult, 17 for TTA, 27 for
whitening; the others are nearer zero). What the data support is that none costs more than
1.5 points, so each is claimed equivalent within 0.015, the largest MDE rounded up.
"""
from __future__ import annotations

import pytest

from competition.gates import assert_claim, decide_claim
from competition.posthoc import apply_tta
from fixtures.models import FAST, FAST_ABLATIONS as ABLATIONS

pytestmark = [pytest.mark.experiment, pytest.mark.claim, pytest.mark.slow, pytest.mark.budgets("standard", "full")]


# Every technique's effect is under the ~1-point MDE of three seeds (see above): what the data
# support is that none costs more than 1.5 points.
CLAIM = "equivalent:0.015"


@pytest.mark.parametrize("technique", ABLATIONS)
def test_each_technique_of_the_fast_recipe(technique, run_experiment, until_decided):
    decide_claim(run_experiment, FAST.with_(**until_decided), ABLATIONS[technique].with_(**until_decided), CLAIM,
                 metric="accuracy")


def test_multi_crop_tta_on_the_fast_recipe(run_experiment, competition_session):
    fast = run_experiment(FAST)
    with_tta = apply_tta(fast, ("identity", "hflip", "shift:1"), "mean", competition_session.context())
    competition_session.keep(with_tta)
    assert_claim(with_tta, fast, CLAIM, metric="accuracy")
