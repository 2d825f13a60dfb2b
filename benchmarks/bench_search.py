"""What pruning and Ray buy a search, side by side in one run (each arm on a fresh store of its own).

    .venv/bin/python benchmarks/bench_search.py [--trials 20] [--budget smoke] [--ray]

The study: the small CNN (competition.recipes.SMALL_CNN) on fashion's search rows, its learning rate and
weight decay, TPE with sampler seed 0. Arms: median pruning and no pruning on the local executor; with --ray,
median pruning with two trials at a time on a Ray started here (2 CPUs, one torch thread per task) against
the same on the local executor at one thread. Printed per arm: wall time, trials pruned, epochs trained, the
best trial; then the ratios. The confirmation is left out (it is the same for every arm).
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from competition.data import open_competition  # noqa: E402
from competition.executors import RayExecutor  # noqa: E402
from competition.recipes import SMALL_CNN  # noqa: E402
from competition.runner import RunContext, run  # noqa: E402
from competition.search import FloatDistribution, Search, run_search, storage_url  # noqa: E402
from competition.provenance import cpu_model_and_isa  # noqa: E402
from competition.store import Store  # noqa: E402

SEARCH = Search("bench-search", base=SMALL_CNN, space={"lr": FloatDistribution(3e-4, 3e-2, log=True),
                                                        "weight_decay": FloatDistribution(1e-5, 1e-2, log=True)},
                trials=20, pruner="median")


def arm(search: Search, budget: str, data_root: Path, executor=None, workers: int = 1) -> dict:
    epochs = []

    def trainer(spec, on_epoch=None):
        def counted(index, row):
            epochs.append(row["epoch"])
            if on_epoch:
                on_epoch(index, row)
        return run(spec, budget, RunContext(store=Store(runs), data_root=data_root, progress_file=False,
                                            executor=executor, on_epoch=counted))

    with tempfile.TemporaryDirectory() as runs:
        started = time.perf_counter()
        report = run_search(search, trainer, open_competition("fashion", data_root), budget, storage_url(runs),
                            workers=workers, confirmation=False)
        seconds = time.perf_counter() - started
    pruned = sum(t["state"] == "PRUNED" for t in report.trials)
    return {"seconds": seconds, "pruned": pruned, "epochs": len(epochs), "best": report.best}


def show(label: str, found: dict) -> None:
    best = found["best"]
    print(f"  {label:<34} {found['seconds']:7.0f} s  {found['pruned']:>2} pruned  {found['epochs']:>4} epochs  "
          f"best {best['search_score']:.4f} {({k: round(v, 5) for k, v in best['params'].items()})}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--ray", action="store_true", help="also compare the local and Ray executors")
    args = parser.parse_args()
    cpu, isa = cpu_model_and_isa()
    print(f"{platform.node()}: {cpu}; {isa}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    search = dataclasses.replace(SEARCH, trials=args.trials)
    print(f"{args.trials} trials of the small CNN on fashion's search rows at {args.budget}, TPE seed 0")
    pruned = arm(search, args.budget, Path(args.data_dir))
    show("median pruning, local", pruned)
    unpruned = arm(dataclasses.replace(search, pruner=None), args.budget, Path(args.data_dir))
    show("no pruning, local", unpruned)
    print(f"  pruning: wall time x{pruned['seconds'] / unpruned['seconds']:.2f}, epochs "
          f"x{pruned['epochs'] / unpruned['epochs']:.2f}")
    if args.ray:
        two = dataclasses.replace(search, parallel=2)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # what each Ray task of one CPU trains with
        try:
            local = arm(two, args.budget, Path(args.data_dir))
        finally:
            torch.set_num_threads(threads)
        show("parallel=2, local, 1 thread", local)
        executor = RayExecutor(num_cpus=2)
        executor.ray()  # connected from the main thread: the trials run on threads
        try:
            on_ray = arm(two, args.budget, Path(args.data_dir), executor, workers=2)
        finally:
            executor.shutdown()
        show("parallel=2, Ray, 2 tasks of 1 CPU", on_ray)
        same = local["best"] == on_ray["best"] and local["pruned"] == on_ray["pruned"]
        print(f"  Ray: wall time x{on_ray['seconds'] / local['seconds']:.2f} of local at one thread; "
              f"same trials: {same}")


if __name__ == "__main__":
    main()
