"""Ray against the local executor: 5 folds of the smoke small CNN on fashion, and what one
Ray task costs beyond its training (scheduling plus fetching the prepared images).

    .venv/bin/python benchmarks/bench_ray.py [--folds 5] [--tasks 20]

Both executors run in this one process, one after the other, so the ratio holds on a
noisy machine. The Ray side is a Ray started here with every core, one CPU and one torch
thread per task; the local side trains one unit after another with every core's threads.
At the end, the measured per-task costs scale to 5 folds x 3 seeds x 20 experiments on
8 GPUs, on paper.
"""
from __future__ import annotations

import argparse
import math
import os
import pickle
import time

import ray

from competition.executors import LocalExecutor, RayExecutor, UnitJob
from competition.experiment import BUDGETS, Experiment
from competition.runner import RunContext, plan

SPEC = Experiment("small_cnn", model="rescnn", augmentation="crop_flip", loss="label_smoothing",
                  loss_kw={"smoothing": 0.1}, epochs=6)


def noop(data, i: int) -> int:
    """A task that receives the prepared data and trains nothing: its time is Ray's overhead."""
    return len(data.table) + i


def timed_units(executor, job: UnitJob) -> float:
    start = time.perf_counter()
    executor.run_units(job)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=20, help="no-op tasks to time the per-task overhead")
    args = parser.parse_args()
    budget, spec = BUDGETS["smoke"], SPEC.with_(cv=f"stratified:{args.folds}")
    planned = plan(spec, budget, RunContext(device="cpu"), choose_path=False)
    data = planned.data
    job = UnitJob(spec, data, planned.units, budget, planned.device, store=None, key="")
    data_mib = len(pickle.dumps(data, protocol=5)) / 2**20
    cores = os.cpu_count() or 1

    local = timed_units(LocalExecutor(), job)
    executor = RayExecutor(num_cpus=cores)
    start = time.perf_counter()
    executor.ray()
    ray_start = time.perf_counter() - start
    on_ray = timed_units(executor, job)

    data_ref = ray.put(data)
    task = ray.remote(noop).options(num_cpus=1)
    ray.get([task.remote(data_ref, i) for i in range(cores)])  # warm the workers
    start = time.perf_counter()
    ray.get([task.remote(data_ref, i) for i in range(args.tasks)])
    per_task = (time.perf_counter() - start) / args.tasks * cores  # seconds of one worker per task
    start = time.perf_counter()
    ray.get(ray.put(data))
    put_s = time.perf_counter() - start
    executor.shutdown()

    unit_s = local / len(job.units)
    print(f"{len(job.units)} folds of the smoke small CNN ({len(data.table)} rows, prepared data {data_mib:.1f} MiB):")
    print(f"  local executor ({cores} threads, one unit at a time): {local:6.1f}s")
    print(f"  Ray, {cores} tasks of 1 CPU at a time:                 {on_ray:6.1f}s   "
          f"(local/Ray {local / on_ray:.2f}x; Ray start {ray_start:.1f}s not included)")
    print(f"  end to end, Ray minus local per unit: {(on_ray - local) / len(job.units):+.2f}s (worker start-up, "
          "the data's first fetch, 1-thread tasks side by side against 2 threads one at a time)")
    print(f"  per-task overhead (no-op task given the data, warm workers): {per_task * 1000:.0f} ms "
          f"= {per_task / unit_s:.2%} of one unit; ray.put of the data {put_s * 1000:.0f} ms")

    units, gpus = 5 * 3 * 20, 8
    print(f"on paper: {units} units (5 folds x 3 seeds x 20 experiments) on {gpus} GPUs, one unit per GPU at a time:")
    for gpu_unit_s in (30, 120, 600):
        wall = math.ceil(units / gpus) * (gpu_unit_s + per_task)
        print(f"  a unit of {gpu_unit_s:4d}s on a GPU: {wall / 3600:5.2f} h "
              f"(Ray's share {math.ceil(units / gpus) * per_task / wall:.2%})")
    # the images travel once per node; a unit reads them from the node's object store
    for gbit in (1, 10):
        print(f"  shipping {data_mib:.0f} MiB to a node over {gbit} Gbit/s: {data_mib * 8 / 1024 / gbit:.2f}s once; "
              f"data becomes the limit only when a dataset's transfer nears a unit's time "
              f"(at {gbit} Gbit/s: {gbit * 1024 / 8 * 30:,.0f} MiB for a 30 s unit)")


if __name__ == "__main__":
    main()
