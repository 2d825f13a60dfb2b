"""Each execution path of the fast recipe against fp32 eager (the path every stored run used), judged on
fashion's eval accuracy: a faster path is only worth having if it trains as well.

The paths (competition.execution): bf16 autocast, the NCHW layout instead of channels_last, and
torch.compile of the training forward. Seeds are paired (the same seed list on both sides: the same
initialisation and data order), decided in rounds until the claim decides. The margin is one point of
accuracy: the largest loss a competitor would trade for a faster path, and inside the MDE that 3-7
paired seeds resolve at standard. benchmarks/bench_paths.py measures what each path buys in speed.
Each verdict is kept in the store for this machine (competition.execution.record_path_verdict): a path
whose claim failed here is never chosen by a spec's "auto" again, until a later run of its claim passes.

Measured at standard (AMD EPYC, avx512_bf16, no AMX, 2 threads), path minus fp32 eager channels_last:
  nchw     -0.0010 [-0.0092, +0.0071]  MDE 0.0091  3 seeds (look 1 of 3)
  compile  +0.0008 [-0.0082, +0.0099]  MDE 0.0100  3 seeds (look 1 of 3)
  bf16     -0.0013 [-0.0050, +0.0023]  MDE 0.0047  5 seeds (look 2 of 3; deferred after look 1, decided
           once the other two had had theirs)
Eval accuracy of the fast recipe: fp32 0.9117, bf16 0.9109 (5 seeds), compile 0.9093, nchw 0.9079 (3).
"""
from __future__ import annotations

from functools import partial

import pytest

from competition.execution import record_path_verdict, supported_precisions
from competition.gates import ClaimFailed, decide_claim
from competition.recipes import FAST
from competition.scoring import eval_view

pytestmark = [pytest.mark.experiment, pytest.mark.claim, pytest.mark.slow, pytest.mark.budgets("standard", "full")]

MARGIN = "equivalent:0.01"
PATHS = {"bf16": {"precision": "bf16"}, "nchw": {"channels_last": False}, "compile": {"compile": True}}


@pytest.mark.parametrize("path", PATHS)
def test_each_execution_path_trains_as_well_as_fp32_eager(path, run_experiment, fashion, eval_answers_of,
                                                          until_decided, competition_session):
    if PATHS[path].get("precision", "fp32") not in supported_precisions(competition_session.device):
        pytest.skip(f"{path} is not supported on {competition_session.device} here")
    answers = eval_answers_of(fashion)
    verdict = partial(record_path_verdict, competition_session.store.root, competition_session.device, PATHS[path])
    try:
        figures = decide_claim(lambda spec: eval_view(run_experiment(spec), answers),
                               FAST.with_(name=f"fast-{path}", **PATHS[path], **until_decided),
                               FAST.with_(**until_decided), MARGIN, metric="accuracy")
    except ClaimFailed as failed:
        verdict("fail", failed.figures)  # runner.plan never chooses this path here again
        raise
    verdict("pass", figures)
