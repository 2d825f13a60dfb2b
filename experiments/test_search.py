"""The suite's example search: the small CNN's learning rate and weight decay, tuned on the search rows of
fashion and confirmed on rows the search never saw (competition.search). The claim is that the tuned spec
beats the small CNN as it is written by at least the effect stated."""
from __future__ import annotations

import dataclasses

import pytest

from competition.search import FloatDistribution, Search, assert_confirmed
from fixtures.models import SMALL_CNN

pytestmark = [pytest.mark.experiment, pytest.mark.claim, pytest.mark.slow]

SEARCH = Search("small_cnn-search", base=SMALL_CNN,
                space={"lr": FloatDistribution(3e-4, 3e-2, log=True),
                       "weight_decay": FloatDistribution(1e-5, 1e-2, log=True)},
                trials=6, pruner="median", effect=0.01, confirm_max_seeds=5)
TRIALS = {"smoke": 6, "standard": 8, "full": 20}  # a handful in CI; standard stops when --minutes is spent


def test_a_tuned_small_cnn_beats_the_small_cnn_on_rows_the_search_never_saw(run_search, budget):
    report = run_search(dataclasses.replace(SEARCH, trials=TRIALS[budget.name]))
    assert_confirmed(report)
