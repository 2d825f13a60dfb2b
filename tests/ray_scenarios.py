"""Ray scenarios for tests/test_ray.py, each run in a process of its own: Ray 2.60 does not
start a second instance cleanly in a process that has run one (its auth token), so no two
scenarios share a process.

    python tests/ray_scenarios.py local|cluster DATA_ROOT RUNS_DIR OUT.npz
    python tests/ray_scenarios.py search DATA_ROOT RUNS_DIR OUT.json

OUT.npz holds the run's per-seed probabilities, the node of each unit, the log lines, the
killed worker and the most units seen running at once (cluster), and the error a raising
unit gave (local).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from competition.data import open_competition
from competition.executors import RayExecutor
from competition.experiment import Budget, Experiment
from competition.runner import RunContext, run
from competition.search import FloatDistribution, Search, run_search, storage_url
from competition.store import Store

TINY = Budget("tiny", max_train=1200, max_epochs=3)  # units of about a second, so two overlap
SPEC = Experiment("digits-ray", data="digits", model="rescnn", model_kw={"width": 8}, epochs=3, batch_size=32,
                  cv="stratified:3", augmentation="crop_flip")
OBJECT_STORE = 100 * 2**20  # Ray's minimum is 75 MiB; the digits need a few
TASK_TITLE = b"ray::train_unit_task"


def task_pids() -> list[int]:
    """Processes now running a unit (Ray titles a worker after the task it runs)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(TASK_TITLE):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_a_unit_once_two_run(killed: list, seen_running: list, stop: threading.Event) -> None:
    """Each node has one CPU, so two units running at once are on two nodes: once that is seen,
    SIGKILL one of them mid-task."""
    while not stop.is_set() and not killed:
        pids = task_pids()
        seen_running.append(len(pids))
        if len(pids) >= 2:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        time.sleep(0.01)


def local(data_root: str, runs: str) -> dict:
    executor, lines = RayExecutor(num_cpus=2, object_store_memory=OBJECT_STORE), []
    try:
        result = run(SPEC, TINY, RunContext(store=Store(runs), data_root=data_root, progress_file=False,
                                            executor=executor, log=lines.append))
        try:
            run(SPEC.with_(name="too-big", batch_size=4096), TINY,
                RunContext(data_root=data_root, progress_file=False, executor=executor))
            error = ""
        except Exception as exc:  # the test checks it is the local run's error
            error = f"{type(exc).__name__}: {exc}"
    finally:
        executor.shutdown()
    return {"result": result, "nodes": executor.nodes, "lines": lines, "error": error, "killed": [],
            "most_running": 0}


def node_of_a_probe() -> str:
    time.sleep(0.5)  # long enough that two probes overlap, so SPREAD must use both nodes if it sees them
    import ray
    return ray.get_runtime_context().get_node_id()


def wait_until_both_nodes_take_tasks(ray, timeout: float = 60) -> None:
    """The GCS knows a new node (wait_for_nodes) before the head's scheduler does: units submitted in
    between all land on the head. Two overlapping SPREAD probes on two nodes show the scheduler sees both."""
    probe = ray.remote(node_of_a_probe).options(num_cpus=1, scheduling_strategy="SPREAD")
    deadline = time.monotonic() + timeout
    while len(set(ray.get([probe.remote(), probe.remote()]))) < 2:
        assert time.monotonic() < deadline, "the second node never took a task"


def cluster(data_root: str, runs: str) -> dict:
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE})
    nodes.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    nodes.wait_for_nodes()
    executor, lines = RayExecutor(address=nodes.address, max_retries=3), []
    ray = executor.ray()  # connected here, so the probes run in the same Ray job (and worker pool) as the units
    wait_until_both_nodes_take_tasks(ray)
    killed, seen_running, stop = [], [], threading.Event()
    threading.Thread(target=kill_a_unit_once_two_run, args=(killed, seen_running, stop), daemon=True).start()
    try:
        result = run(SPEC, TINY, RunContext(store=Store(runs), data_root=data_root, progress_file=False,
                                            executor=executor, log=lines.append))
    finally:
        stop.set()
        ray.shutdown()
        nodes.shutdown()
    return {"result": result, "nodes": executor.nodes, "lines": lines, "error": "", "killed": killed,
            "most_running": max(seen_running, default=0)}


SEARCH = Search("ray-search", Experiment("digits-search", data="digits", model="rescnn", model_kw={"width": 8},
                                         epochs=3, batch_size=64),
                {"lr": FloatDistribution(1e-4, 3.0, log=True)}, trials=6, parallel=2, sampler_seed=5)


def search_trials(data_root: str, runs: str, executor=None) -> list:
    """SEARCH's finished trials (number, state, params, value) with `executor` training its units; with Ray,
    the two trials of each batch run at once."""
    def trainer(spec, on_epoch=None):
        return run(spec, TINY, RunContext(store=Store(runs), data_root=data_root, progress_file=False,
                                          executor=executor, on_epoch=on_epoch))

    report = run_search(SEARCH, trainer, open_competition("digits", data_root), TINY, storage_url(runs),
                        workers=SEARCH.parallel if executor else 1, confirmation=False)
    return [[t["number"], t["state"], t["params"], t["value"]] for t in report.trials]


def search(data_root: str, runs: str) -> dict:
    executor = RayExecutor(num_cpus=2, object_store_memory=OBJECT_STORE)
    executor.ray()  # connected from the main thread: the trials run on threads
    try:
        trials = search_trials(data_root, runs, executor)
    finally:
        executor.shutdown()
    return {"trials": trials, "nodes": executor.nodes}


if __name__ == "__main__" and sys.argv[1] == "search":
    found = search(*sys.argv[2:4])
    Path(sys.argv[4]).write_text(json.dumps(found))
elif __name__ == "__main__":
    scenario, data_root, runs, out = sys.argv[1:5]
    done = {"local": local, "cluster": cluster}[scenario](data_root, runs)
    np.savez(out, oof=done["result"].seed_oof_probs, eval=done["result"].seed_eval_probs,
             nodes=np.array(done["nodes"], dtype=str), lines=np.array(done["lines"], dtype=str),
             error=np.array(done["error"]), killed=np.array(done["killed"], dtype=int),
             most_running=np.array(done["most_running"]))
