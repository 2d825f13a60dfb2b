"""Transfer learning from the ImageNet efficientnet_lite0 on fashion at the
standard budget: feature extraction vs fine-tuning vs training from scratch,
with 1% and with 100% of the train split.

    .venv/bin/python benchmarks/bench_transfer.py [--sizes little much] [--modes feature-extract finetune scratch]

Runs go through the store (./runs), so a repeated call only prints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from competition.data import load_builtin  # noqa: E402
from competition.recipes import transfer_spec  # noqa: E402
from competition.runner import RunContext, run  # noqa: E402
from competition.scoring import score_eval  # noqa: E402
from competition.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["little", "much"])
    parser.add_argument("--modes", nargs="+", default=["feature-extract", "finetune", "scratch"])
    parser.add_argument("--budget", default="full", help="full: every image; standard: 12,000; smoke: 3,000")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    store = Store("runs")
    fashion = load_builtin("fashion")
    print(f"{'experiment':<32} {'train rows':>10} {'holdout macro F1':>17} {'eval acc':>9} {'minutes':>8}")
    for size in args.sizes:
        for mode in args.modes:
            context = RunContext(store=store, device=args.device, progress_file=False)
            result = score_eval(run(transfer_spec(size, mode), args.budget, context), fashion)
            assert result.eval_metrics is not None, "fashion's eval split has answers"
            print(f"{result.name:<32} {result.provenance.train_rows:>10} {result.score():>17.4f} "
                  f"{result.eval_metrics['accuracy']:>9.4f} {result.seconds / 60:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
