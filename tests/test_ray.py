"""The Ray executor: the same units as the local executor, bit for bit, on a local Ray
and on a simulated two-node cluster whose worker is killed mid-task; the store is
written by the driver alone, and a stored run needs no Ray.

Each Ray scenario runs in a process of its own (tests/ray_scenarios.py says why)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from competition.executors import RayExecutor
from competition.runner import RunContext, run
from competition.store import Store
from ray_scenarios import SPEC, TINY, search_trials

pytest_plugins = ["pytester"]
ray = pytest.importorskip("ray")
SCENARIOS = Path(__file__).with_name("ray_scenarios.py")



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


def scenario(name: str, data_root: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{name}.npz"
    done = subprocess.run([sys.executable, str(SCENARIOS), name, str(data_root), str(tmp_path / "runs"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as found:
        return {key: found[key] for key in found.files}


def test_a_local_ray_gives_the_local_executors_numbers_bit_for_bit(local_result, data_root, tmp_path):
    done = scenario("local", data_root, tmp_path)
    assert np.array_equal(done["oof"], local_result.seed_oof_probs)
    assert np.array_equal(done["eval"], local_result.seed_eval_probs)
    assert len(done["nodes"]) == 3 and any("trained on node" in line for line in done["lines"])
    # a unit that raises inside a task gives the local run's error (from whichever unit fails first)
    assert re.match(r"ConfigError: too-big fold\d-seed0: batch_size=4096 is larger than the 800 training rows",
                    str(done["error"]))
    # the driver wrote every unit; a second session is served from the store and never starts Ray
    assert len(list((tmp_path / "runs" / "folds").rglob("*.npz"))) == 3
    served = RayExecutor(address="ray://nowhere:1")  # connecting would fail: it must not be tried
    again = run(SPEC.with_(name="again"), TINY, RunContext(store=Store(tmp_path / "runs"), data_root=data_root,
                                                             progress_file=False, executor=served))
    assert np.array_equal(again.seed_oof_probs, local_result.seed_oof_probs)
    assert served.nodes == [] and not ray.is_initialized()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers through /proc")
def test_two_nodes_share_the_folds_and_a_killed_worker_changes_nothing(local_result, data_root, tmp_path):
    done = scenario("cluster", data_root, tmp_path)
    # each node has one CPU, so two units running at once ran on both nodes; one of them was then killed.
    # Which node the killed unit's retry and the third unit land on is Ray's choice, so it is not asserted.
    assert int(done["most_running"]) == 2 and len(done["killed"]) == 1, "two units never ran at once"
    assert np.array_equal(done["oof"], local_result.seed_oof_probs)
    assert np.array_equal(done["eval"], local_result.seed_eval_probs)
    assert len(done["nodes"]) == 3 and len(set(done["nodes"])) <= 2


EXPERIMENT_FILE = """
from competition.experiment import Experiment
from competition.gates import assert_metric_floor

def test_tiny(run_experiment):
    assert_metric_floor(run_experiment(Experiment("digits-tiny", data="digits", model="rescnn",
                                                  model_kw={"width": 4}, epochs=1, batch_size=64)), 0.0)
"""


def test_the_same_pytest_command_trains_on_ray_and_gates_here(pytester, data_root):
    pytester.makepyfile(test_tiny=EXPERIMENT_FILE)
    result = pytester.runpytest_subprocess("--budget=smoke", f"--data-dir={data_root}", "--runs-dir=runs",
                                           "--executor=ray", "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*[[]digits-tiny[]] ray: 1 unit(s) submitted to 1 node(s)*",
                                 "*[[]digits-tiny[]] fold0-seed0 trained on node * in *s*"])
    assert "Started a local Ray instance" in result.stderr.str() + result.stdout.str()


def test_a_search_on_ray_runs_trials_side_by_side_and_gives_the_local_searchs_trials(data_root, tmp_path):
    """Trials are asked in batches (Search.parallel) and told in trial order, so the sampler and the median
    pruner see the same history whichever executor ran the batch, and in what order its trials finished.
    The pruner hears a Ray task's epochs as they end and stops it there, as it stops a local unit: a pruned
    trial's unit never comes back from Ray trained to its end."""
    out = tmp_path / "search.json"
    done = subprocess.run([sys.executable, str(SCENARIOS), "search", str(data_root), str(tmp_path / "ray-runs"),
                           str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    on_ray = json.loads(out.read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray task of one CPU trains with one thread
    try:
        here = search_trials(data_root, tmp_path / "local-runs")
    finally:
        torch.set_num_threads(threads)
    assert on_ray["trials"] == here and len(here) == 6
    pruned = sum(state == "PRUNED" for _, state, _, _ in here)
    assert pruned >= 1 and len(on_ray["nodes"]) == len(here) - pruned  # only the completed trials' units came back


def test_ray_is_not_started_from_a_worker_thread():
    """Ray started from a thread other than the main one exits the process quietly when that thread ends; the
    executor refuses, naming what to do, and starts nothing."""
    import threading

    from competition.errors import ConfigError

    caught = []
    thread = threading.Thread(target=lambda: caught.append(pytest.raises(ConfigError, RayExecutor().ray)))
    thread.start()
    thread.join()
    assert "call executor.ray() first" in str(caught[0].value) and not ray.is_initialized()
