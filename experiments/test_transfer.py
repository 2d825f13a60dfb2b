"""The seed's four transfer-learning cases on fashion, from the ImageNet
efficientnet_lite0: little (1%) or much data, feature extraction or
fine-tuning, each against the same network trained from scratch.

Measured at smoke (CPU, seed 0; macro F1 delta [95% paired bootstrap]):
  little (600 images, batch 32):  finetune - scratch          +0.042 [-0.056, 0.146]  (not significant)
                                  feature-extract - scratch   +0.262 [0.169, 0.353]
                                  finetune - feature-extract  -0.220 [-0.313, -0.121]
  much (3,000 images):            finetune - scratch          +0.035 [-0.003, 0.073]  (not significant)
                                  feature-extract - scratch   +0.091 [0.056, 0.129]
                                  finetune - feature-extract  -0.056 [-0.091, -0.021]
Five epochs are too few for fine-tuning to overtake a linear head on frozen
ImageNet features.

Measured on all 60,000 images (48,000 train / 12,000 holdout, 4 epochs, one seed):
  finetune - scratch          +0.007 [0.002, 0.013]     (0.8956 vs 0.8882; 13.5 and 13.2 min)
  feature-extract - scratch   -0.040 [-0.047, -0.034]   (0.8478; 1.9 min)
  finetune - feature-extract  +0.048 [0.042, 0.054]
With the whole split, fine-tuning wins and a linear head on frozen features
loses even to training from scratch (benchmarks/bench_transfer.py measured the
little cases on eval: feature-extract 0.729, finetune 0.718, scratch 0.697).
Those are one seed each: the claims below are stated at standard and full, with
three seeds per side, and at smoke only where a one-seed delta was over 0.2.
"""
from __future__ import annotations

import pytest

from competition.gates import decide_claim
from competition.recipes import transfer_spec

pytestmark = [pytest.mark.experiment, pytest.mark.claim, pytest.mark.slow, pytest.mark.budgets("standard", "full")]

CLAIMS = {  # (size, mode, other) -> claim, with the smallest effect it is about (from the deltas above)
    ("little", "feature-extract", "scratch"): "beats:0.1",
    ("little", "finetune", "scratch"): "beats:0.02",
    ("much", "finetune", "scratch"): "beats:0.005",
    ("much", "finetune", "feature-extract"): "beats:0.02",
}


@pytest.mark.parametrize("case", CLAIMS, ids=lambda case: f"{case[0]}-{case[1]}-vs-{case[2]}")
def test_transfer_case(case, run_experiment, until_decided):
    size, mode, other = case
    decide_claim(run_experiment, transfer_spec(size, mode).with_(**until_decided),
                 transfer_spec(size, other).with_(**until_decided),
                 CLAIMS[case])
