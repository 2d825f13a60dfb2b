"""Layer 4. Executors: who trains the units (fold x seed) that the store does not hold.

- ``LocalExecutor`` (the default) trains them one after another in this process,
  each under a store lock, resuming from its last checkpoint.
- ``RayExecutor`` submits each as a Ray task, on a cluster (``address``) or a
  Ray started on this machine. The prepared images go into Ray's object store
  once per run, so each node receives them once, not once per task. A task whose
  worker dies is retried by Ray up to ``max_retries`` times.

Either way the store is read and written only here, in the driver process:
nothing assumes a file system shared with the workers. A unit is a pure function
of (spec, data, fold, seed) and of the torch thread count, so both executors give
the same probabilities bit for bit on CPU at the same thread count.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .cv import Unit, UnitOutput, run_fold
from .train import Callback
from .errors import CompetitionError, ConfigError
from .experiment import Budget, Experiment, PreparedData
from .store import Store, StoreIntegrityError


class TrainingNotAllowed(CompetitionError):
    """A unit is not in the store and the context's deadline has passed (a spent time budget)."""

    def __init__(self, experiment: str, missing: int):
        super().__init__(f"{experiment}: {missing} unit(s) (fold x seed) are not in the store, and this run may not "
                         "train them")
        self.missing = missing


@dataclass
class UnitJob:
    """What an executor needs to produce the outputs of `units`, in order."""

    experiment: Experiment
    data: PreparedData
    units: list[Unit]
    budget: Budget
    device: str
    store: Store | None
    key: str                      # the units' store key
    rerun: bool = False           # ignore stored units and train again
    deadline: float | None = None  # time.monotonic() after which no unit starts training
    log: Callable[[str], None] | None = None
    progress_file: object = None
    # called with (the unit's index in `units`, a history row) after each epoch, live while a unit trains
    # and replayed from a stored unit's history, so a listener sees the same rows either way (a search's
    # pruner: it may raise to stop the run; the unit then is not stored)
    on_epoch: Callable[[int, dict], None] | None = None
    on_trained: Callable[[UnitOutput], None] | None = None  # each unit trained for this job (none served stored)

    def trained(self, output: UnitOutput) -> UnitOutput:
        if self.on_trained:
            self.on_trained(output)
        return output

    def unit_log(self, unit: Unit):
        return (lambda line: self.log(f"{unit.label} {line}")) if self.log else None

    def stored(self, unit: Unit) -> UnitOutput | None:
        """The unit's stored output when it belongs to this unit and data; a foreign one is reported."""
        if self.store is None or self.rerun:
            return None
        hit = self.store.load_unit(self.key, unit.label)
        if hit is None:
            return None
        if (mismatch := unit_mismatch(hit, unit, self.data)) is None:
            return hit
        self.store.report_corrupt(self.store.unit_path(self.key, unit.label), StoreIntegrityError(mismatch))
        return None

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def listeners(self, index: int) -> list[Callback]:
        return [EpochListener(lambda row: self.on_epoch(index, row))] if self.on_epoch else []

    def replay(self, index: int, output: UnitOutput) -> None:
        """Tell on_epoch the history of a unit that did not train here (stored, or trained on Ray)."""
        replay_history(self.on_epoch, index, output.history)

    def replay_in_order(self, outputs: dict[str, UnitOutput | None], replayed: int) -> int:
        """Replay the units after the first `replayed` whose outputs are in, stopping at the first missing
        one, so on_epoch hears the units in their order whatever order they finish in; returns how many
        units are replayed now."""
        while replayed < len(self.units) and (output := outputs[self.units[replayed].label]) is not None:
            self.replay(replayed, output)
            replayed += 1
        return replayed


def replay_history(on_epoch: Callable[[int, dict], None] | None, index: int, history: list[dict]) -> None:
    """Call on_epoch(index, row) for each epoch of a unit's stored history, as if it were training."""
    for row in history if on_epoch else ():
        on_epoch(index, row)


class EpochListener(Callback):
    """Passes each epoch's history row on; never stops training itself."""

    def __init__(self, listen: Callable[[dict], None]):
        self.listen = listen

    def on_epoch_end(self, state, row: dict, cfg) -> bool:
        self.listen(dict(row))
        return False


def unit_mismatch(output: UnitOutput, unit: Unit, data: PreparedData) -> str | None:
    """Why a stored unit does not belong to this unit and data, or None."""
    if not np.array_equal(output.val_index, unit.val_idx):
        return "its validation rows are not this fold's"
    if output.val_probs.shape[1] != data.num_classes:
        return f"{output.val_probs.shape[1]} classes where the data has {data.num_classes}"
    expected_eval = 0 if data.eval_images is None else len(data.eval_images)
    if len(output.eval_probs) != expected_eval:
        return f"{len(output.eval_probs)} eval rows where the data has {expected_eval}"
    return None


class LocalExecutor:
    """Train missing units in this process, one after another."""

    def shutdown(self) -> None:
        """Nothing to stop: units train in this process."""

    def run_units(self, job: UnitJob) -> list[UnitOutput]:
        outputs = []
        for i, unit in enumerate(job.units):  # the deadline is checked before each unit trains, not once per run
            if job.past_deadline() and self.missing(job, unit):
                raise TrainingNotAllowed(job.experiment.name, sum(self.missing(job, u) for u in job.units[i:]))
            outputs.append(self.unit_through_store(job, unit, i))
        return outputs

    @staticmethod
    def missing(job: UnitJob, unit: Unit) -> bool:
        return job.store is None or job.rerun or not job.store.unit_path(job.key, unit.label).exists()

    @staticmethod
    def unit_through_store(job: UnitJob, unit: Unit, index: int = 0) -> UnitOutput:
        """A stored unit's output, or train it (resuming from its last checkpoint) and store it."""
        store = job.store
        if store is None:
            return job.trained(run_fold(job.experiment, job.data, unit, job.budget, job.device, None,
                                        job.progress_file, job.unit_log(unit), job.listeners(index)))
        with store.lock(f"{job.key}-{unit.label}"):
            if (hit := job.stored(unit)) is not None:
                job.replay(index, hit)
                return hit
            output = run_fold(job.experiment, job.data, unit, job.budget, job.device,
                              store.scratch_dir(job.key, unit.label), job.progress_file, job.unit_log(unit),
                              job.listeners(index))
            store.save_unit(job.key, unit.label, output)
            return job.trained(output)


def train_unit_task(experiment: Experiment, data: PreparedData, unit: Unit, budget: Budget, device: str,
                    threads: int) -> tuple[UnitOutput, str, float]:
    """One unit on a Ray worker: (output, node id, seconds), trained with `threads` torch threads."""
    import ray

    torch.set_num_threads(threads)
    start = time.perf_counter()
    output = run_fold(experiment, data, unit, budget, device, None, False,
                      lambda line: print(f"[{experiment.name}] {unit.label} {line}", flush=True))
    return output, ray.get_runtime_context().get_node_id()[:12], time.perf_counter() - start


class RayExecutor:
    """Train missing units as Ray tasks; results are gathered and stored on the driver.

    address: a running cluster ("auto", "ray://host:10001", "host:6379"), else $RAY_ADDRESS, else a
    Ray started on this machine with `num_cpus` (default: all cores). Each task asks for
    `cpus_per_task` CPUs, `gpus_per_task` GPUs (default: 1 when the device is cuda) and `memory`
    bytes. `threads`: torch threads per task, default `cpus_per_task` (more threads than the CPUs a task
    holds oversubscribes the node: 20x slower here). A unit's numbers depend on its thread count, so a
    Ray run equals a local run with the same count bit for bit (torch.set_num_threads in the driver).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_task: float = 1,
                 gpus_per_task: float | None = None, memory: int | None = None, max_retries: int = 3,
                 threads: int | None = None, object_store_memory: int | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus, self.cpus_per_task, self.gpus_per_task = num_cpus, cpus_per_task, gpus_per_task
        self.object_store_memory = object_store_memory  # for a Ray started here
        self.memory, self.max_retries, self.threads = memory, max_retries, threads
        self.started_here = False
        self.nodes: list[str] = []  # the node of each unit trained, in completion order
        self.connecting = threading.Lock()  # runs on threads (a search's parallel trials) connect once

    def ray(self):
        """The ray module, connected; Ray starts (or connects) only when a unit has to train."""
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'competition[ray]' (pinned in "
                              "constraints.txt)") from None
        with self.connecting:
            if not ray.is_initialized():
                if threading.current_thread() is not threading.main_thread():
                    # Ray connected from another thread exits the process quietly when that thread ends
                    raise ConfigError("the ray executor must connect from the main thread before units train "
                                      "on other threads (a search's parallel trials): call executor.ray() first")
                self.connect(ray)
        return ray

    def connect(self, ray) -> None:
        env = {"env_vars": {"NO_ALBUMENTATIONS_UPDATE": "1"}}
        if self.address:
            ray.init(address=self.address, runtime_env=env, log_to_driver=True)
        else:
            ray.init(num_cpus=self.num_cpus, object_store_memory=self.object_store_memory, runtime_env=env,
                     include_dashboard=False, log_to_driver=True)
            self.started_here = True

    def shutdown(self) -> None:
        """Stop the Ray this executor started (a cluster it connected to keeps running)."""
        if self.started_here:
            import ray
            ray.shutdown()
            self.started_here = False

    def run_units(self, job: UnitJob) -> list[UnitOutput]:
        outputs: dict[str, UnitOutput | None] = {unit.label: job.stored(unit) for unit in job.units}
        missing = [unit for unit in job.units if outputs[unit.label] is None]
        if missing and job.past_deadline():  # checked once: every missing unit is submitted at once
            raise TrainingNotAllowed(job.experiment.name, len(missing))
        replayed = job.replay_in_order(outputs, 0)
        for unit, output in self.train(job, missing) if missing else ():
            if job.store is not None:
                job.store.save_unit(job.key, unit.label, output)  # the driver alone writes the store
            outputs[unit.label] = job.trained(output)
            replayed = job.replay_in_order(outputs, replayed)
        return [outputs[unit.label] for unit in job.units]

    def train(self, job: UnitJob, units: list[Unit]):
        """Yield (unit, output) as the tasks finish."""
        ray = self.ray()
        gpus = self.gpus_per_task if self.gpus_per_task is not None else (1 if job.device.startswith("cuda") else 0)
        # SPREAD: units are long and the images reach each node once, so spread them over the nodes rather
        # than queue them where the data was put (Ray's default prefers the node that holds a task's arguments)
        options = {"num_cpus": self.cpus_per_task, "num_gpus": gpus, "max_retries": self.max_retries,
                   "scheduling_strategy": "SPREAD"}
        if self.memory:
            options["memory"] = self.memory
        task = ray.remote(train_unit_task).options(**options)
        data = ray.put(job.data)  # into the object store once; each node fetches it once
        threads = self.threads or max(1, int(self.cpus_per_task))
        pending = {task.remote(job.experiment, data, unit, job.budget, job.device, threads): unit for unit in units}
        if job.log:
            job.log(f"ray: {len(units)} unit(s) submitted to {len(ray.nodes())} node(s)")
        try:
            yield from self.gather(ray, job, pending)
        finally:  # stopped early (a unit failed, or a listener stopped the run): free the cluster
            for ref in pending:
                ray.cancel(ref)

    def gather(self, ray, job: UnitJob, pending: dict):
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(done[0])
            try:
                output, node, seconds = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the unit raised: the same error as a local run
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
            except ray.exceptions.RayError as exc:  # its worker or node died more often than Ray retries
                raise CompetitionError(
                    f"{job.experiment.name}: unit {unit.label} failed on Ray after {self.max_retries} retries: "
                    f"{str(exc).splitlines()[0]}; the units trained so far are stored, and a rerun trains the "
                    "rest") from exc
            self.nodes.append(node)
            if job.log:
                job.log(f"{unit.label} trained on node {node} in {seconds:.1f}s")
            yield unit, output

