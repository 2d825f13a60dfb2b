"""The Ray executor: the same units as the local executor, bit for bit, on a local Ray
and on a simulated two-node cluster whose worker is killed mid-task; the store is
written by the driver alone, and a stored run needs no Ray."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from competition.data import prepare
from competition.errors import ConfigError
from competition.executors import RayExecutor
from competition.experiment import Budget, Experiment
from competition.runner import RunContext, run
from competition.store import Store

pytest_plugins = ["pytester"]
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402  (after the skip: only where Ray is installed)

TINY = Budget("tiny", max_train=240, max_epochs=2)
SPEC = Experiment("digits-ray", data="digits", model="rescnn", model_kw={"width": 8}, epochs=2, batch_size=32,
                  cv="stratified:3", augmentation="crop_flip")
OBJECT_STORE = 100 * 2**20  # Ray's minimum is 75 MiB; the digits need a few
TASK_TITLE = "ray::train_unit_task"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare("digits", root)
    return root


@pytest.fixture(scope="module")
def local_result(data_root, tmp_path_factory):
    """The local executor at one torch thread: what a Ray task of one CPU runs with."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run(SPEC, TINY, RunContext(store=Store(tmp_path_factory.mktemp("local")), data_root=data_root,
                                          progress_file=False))
    finally:
        torch.set_num_threads(threads)


def same_numbers(a, b) -> None:
    assert np.array_equal(a.seed_oof_probs, b.seed_oof_probs)
    assert np.array_equal(a.seed_eval_probs, b.seed_eval_probs)


def test_a_local_ray_gives_the_local_executors_numbers_bit_for_bit(local_result, data_root, tmp_path):
    executor = RayExecutor(num_cpus=2, object_store_memory=OBJECT_STORE)
    lines = []
    try:
        result = run(SPEC, TINY, RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False,
                                            executor=executor, log=lines.append))
        with pytest.raises(ConfigError, match="batch_size=512 is larger than the 160 training rows"):
            run(SPEC.with_(name="too-big", batch_size=512), TINY, RunContext(data_root=data_root, progress_file=False, executor=executor))
    finally:
        executor.shutdown()
    same_numbers(result, local_result)
    assert len(executor.nodes) == 3 and any("trained on node" in line for line in lines)
    # the driver wrote every unit; a second session is served from the store and never starts Ray
    assert len(list((tmp_path / "runs" / "folds").rglob("*.npz"))) == 3
    served = RayExecutor(address="ray://nowhere:1")  # connecting would fail: it must not be tried
    again = run(SPEC.with_(name="again"), TINY, RunContext(store=Store(tmp_path / "runs"), data_root=data_root,
                                                             progress_file=False, executor=served))
    same_numbers(again, local_result)
    assert served.nodes == [] and not ray.is_initialized()


EXPERIMENT_FILE = """
from competition.experiment import Experiment
from competition.gates import assert_metric_floor

def test_tiny(run_experiment):
    assert_metric_floor(run_experiment(Experiment("digits-tiny", data="digits", model="rescnn",
                                                  model_kw={"width": 4}, epochs=1, batch_size=64)), 0.0)
"""


def test_the_same_pytest_command_trains_on_ray_and_gates_here(pytester, data_root):
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    # in a process of its own: Ray 2.60 fails to start a second instance in one process (its auth token)
    result = pytester.runpytest_subprocess("--budget=smoke", f"--data-dir={data_root}", "--runs-dir=runs", "--executor=ray",
                                "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*[[]digits-tiny[]] ray: 1 unit(s) submitted to 1 node(s)*",
                                 "*[[]digits-tiny[]] fold0-seed0 trained on node * in *s*"])
    assert "Started a local Ray instance" in result.stderr.str() + result.stdout.str()


def task_pids() -> list[int]:
    """Processes now running a unit (Ray titles a worker after the task it runs)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(TASK_TITLE.encode()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_first_task(killed: list, stop: threading.Event) -> None:
    while not stop.is_set() and not killed:
        if pids := task_pids():  # a worker is running a unit: kill it mid-task
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        time.sleep(0.01)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers through /proc")
def test_two_nodes_share_the_folds_and_a_killed_worker_changes_nothing(local_result, data_root, tmp_path):
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE})
    cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    executor = RayExecutor(address=cluster.address, max_retries=3)
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_first_task, args=(killed, stop), daemon=True)
    killer.start()
    try:
        result = run(SPEC, TINY, RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False,
                                            executor=executor))
    finally:
        stop.set()
        ray.shutdown()
        cluster.shutdown()
    assert killed, "no worker was seen running a unit"
    same_numbers(result, local_result)
    assert len(set(executor.nodes)) == 2, f"the folds ran on {executor.nodes}"
