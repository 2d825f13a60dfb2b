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
from typing import Callable, cast

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
        super().__init__(
            f"{experiment}: {missing} unit(s) (fold x seed) are not in the store, and this run may not train them"
        )
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
    key: str  # the units' store key
    rerun: bool = False  # ignore stored units and train again
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
        on_epoch = self.on_epoch
        return [EpochListener(lambda row: on_epoch(index, row))] if on_epoch else []

    def replay(self, index: int, output: UnitOutput) -> None:
        """Tell on_epoch the history of a unit that did not train here (a stored one)."""
        replay_history(self.on_epoch, index, output.history)


class EpochsInOrder:
    """Hands on_epoch the units' epoch rows in unit order, as the local executor does, whatever order they
    arrive in from units training side by side: the rows of the first unit not yet complete are heard as they
    come, and those of the units after it are held until it completes."""

    def __init__(self, job: UnitJob):
        self.job = job
        self.rows: dict[str, list[dict]] = {unit.label: [] for unit in job.units}
        self.complete: set[str] = set()
        self.front, self.heard = 0, 0  # the unit being heard, and how many of its rows were heard

    def add(self, label: str, row: dict) -> None:
        rows = self.rows[label]
        if rows and row["epoch"] <= rows[-1]["epoch"]:
            return  # a retried task training the unit again from its start: these epochs were heard
        rows.append(row)
        self.hear()

    def finish(self, label: str, history: list[dict]) -> None:
        """The unit's whole history (the rows streamed so far are its first ones)."""
        self.rows[label] = list(history)
        self.complete.add(label)
        self.hear()

    def hear(self) -> None:
        units = self.job.units
        while self.front < len(units):
            label = units[self.front].label
            while self.heard < len(self.rows[label]):
                if self.job.on_epoch:
                    self.job.on_epoch(self.front, self.rows[label][self.heard])
                self.heard += 1
            if label not in self.complete:
                return
            self.front, self.heard = self.front + 1, 0


def replay_history(on_epoch: Callable[[int, dict], None] | None, index: int, history: list[dict]) -> None:
    """Call on_epoch(index, row) for each epoch of a unit's stored history, as if it were training."""
    if on_epoch is None:
        return
    for row in history:
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
            return job.trained(
                run_fold(
                    job.experiment,
                    job.data,
                    unit,
                    job.budget,
                    job.device,
                    None,
                    job.progress_file,
                    job.unit_log(unit),
                    job.listeners(index),
                )
            )
        with store.lock(f"{job.key}-{unit.label}"):
            if (hit := job.stored(unit)) is not None:
                job.replay(index, hit)
                return hit
            output = run_fold(
                job.experiment,
                job.data,
                unit,
                job.budget,
                job.device,
                store.scratch_dir(job.key, unit.label),
                job.progress_file,
                job.unit_log(unit),
                job.listeners(index),
            )
            store.save_unit(job.key, unit.label, output)
            return job.trained(output)


RELAY_POLL_SECONDS = 0.05  # how often the driver takes relayed epochs, and a waiting task asks for its word


class EpochRelay:
    """A Ray actor between the units' tasks and the driver while someone listens to the epochs (a search's
    pruner): a task reports each epoch's row and waits for the driver's word, go on or stop. So a unit the
    listener stops ends at the epoch where the local executor would stop it, not when its training ends, and
    a search on Ray prunes the same epochs as one run here."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict]] = []
        self.words: dict[tuple[str, int], bool] = {}

    def report(self, label: str, row: dict) -> None:
        self.rows.append((label, row))

    def take(self) -> list[tuple[str, dict]]:
        rows, self.rows = self.rows, []
        return rows

    def answer(self, label: str, epoch: int, go_on: bool) -> None:
        self.words[(label, epoch)] = go_on

    def word(self, label: str, epoch: int) -> bool | None:
        return self.words.pop((label, epoch), None)


class RelayedEpochs(Callback):
    """In a unit's Ray task: each epoch's row to the relay, then training goes on only if the driver says so."""

    def __init__(self, relay, label: str):
        self.relay, self.label = relay, label

    def on_epoch_end(self, state, row: dict, cfg) -> bool:
        import ray

        epoch = int(row["epoch"])
        ray.get(self.relay.report.remote(self.label, dict(row)))
        while (go_on := ray.get(self.relay.word.remote(self.label, epoch))) is None:
            time.sleep(RELAY_POLL_SECONDS)
        return not go_on


def train_unit_task(
    experiment: Experiment, data: PreparedData, unit: Unit, budget: Budget, device: str, threads: int, relay=None
) -> tuple[UnitOutput, str, float]:
    """One unit on a Ray worker: (output, node id, seconds), trained with `threads` torch threads; with a
    relay, its epochs are heard by the driver as they end."""
    import ray

    torch.set_num_threads(threads)
    start = time.perf_counter()
    output = run_fold(
        experiment,
        data,
        unit,
        budget,
        device,
        None,
        False,
        lambda line: print(f"[{experiment.name}] {unit.label} {line}", flush=True),
        [RelayedEpochs(relay, unit.label)] if relay is not None else [],
    )
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

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float | None = None,
        memory: int | None = None,
        max_retries: int = 3,
        threads: int | None = None,
        object_store_memory: int | None = None,
    ):
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
            raise ConfigError(
                "the ray executor needs Ray: pip install 'competition[ray]' (pinned in constraints.txt)"
            ) from None
        with self.connecting:
            if not ray.is_initialized():
                if threading.current_thread() is not threading.main_thread():
                    # Ray connected from another thread exits the process quietly when that thread ends
                    raise ConfigError(
                        "the ray executor must connect from the main thread before units train "
                        "on other threads (a search's parallel trials): call executor.ray() first"
                    )
                self.connect(ray)
        return ray

    def connect(self, ray) -> None:
        env = {"env_vars": {"NO_ALBUMENTATIONS_UPDATE": "1"}}
        if self.address:
            ray.init(address=self.address, runtime_env=env, log_to_driver=True)
        else:
            ray.init(
                num_cpus=self.num_cpus,
                object_store_memory=self.object_store_memory,
                runtime_env=env,
                include_dashboard=False,
                log_to_driver=True,
            )
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
        epochs = EpochsInOrder(job)
        for unit in job.units:
            if (stored := outputs[unit.label]) is not None:
                epochs.finish(unit.label, stored.history)
        for unit, output in self.train(job, missing, epochs) if missing else ():
            if job.store is not None:
                job.store.save_unit(job.key, unit.label, output)  # the driver alone writes the store
            outputs[unit.label] = job.trained(output)
            epochs.finish(unit.label, output.history)
        return [cast(UnitOutput, outputs[unit.label]) for unit in job.units]  # each one stored or trained now

    def train(self, job: UnitJob, units: list[Unit], epochs: EpochsInOrder):
        """Yield (unit, output) as the tasks finish; a listener hears the epochs as they end (in unit order)."""
        ray = self.ray()
        gpus = self.gpus_per_task if self.gpus_per_task is not None else (1 if job.device.startswith("cuda") else 0)
        # SPREAD: units are long and the images reach each node once, so spread them over the nodes rather
        # than queue them where the data was put (Ray's default prefers the node that holds a task's arguments)
        options = {
            "num_cpus": self.cpus_per_task,
            "num_gpus": gpus,
            "max_retries": self.max_retries,
            "scheduling_strategy": "SPREAD",
        }
        if self.memory:
            options["memory"] = self.memory
        task = ray.remote(train_unit_task).options(**options)
        data = ray.put(job.data)  # into the object store once; each node fetches it once
        threads = self.threads or max(1, int(self.cpus_per_task))
        relay = ray.remote(num_cpus=0)(EpochRelay).remote() if job.on_epoch else None
        pending = {
            task.remote(job.experiment, data, unit, job.budget, job.device, threads, relay): unit for unit in units
        }
        if job.log:
            job.log(f"ray: {len(units)} unit(s) submitted to {len(ray.nodes())} node(s)")
        try:
            yield from self.gather(ray, job, pending, relay, epochs)
        finally:  # stopped early (a unit failed, or a listener stopped the run): free the cluster
            for ref in pending:
                ray.cancel(ref)
            if relay is not None:
                ray.kill(relay)

    @staticmethod
    def pass_on(ray, relay, epochs: EpochsInOrder) -> None:
        """Hand the epochs the tasks reported to the listener, and answer each task: go on, unless the
        listener stopped the run (it raises; the task is then told to stop, and cancelled)."""
        for label, row in ray.get(relay.take.remote()):
            try:
                epochs.add(label, row)
            except BaseException:
                relay.answer.remote(label, int(row["epoch"]), False)
                raise
            relay.answer.remote(label, int(row["epoch"]), True)

    def gather(self, ray, job: UnitJob, pending: dict, relay, epochs: EpochsInOrder):
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=RELAY_POLL_SECONDS if relay else None)
            if relay is not None:
                self.pass_on(ray, relay, epochs)
            if not done:
                continue
            unit = pending.pop(done[0])
            try:
                output, node, seconds = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the unit raised: the same error as a local run
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
            except ray.exceptions.RayError as exc:  # its worker or node died more often than Ray retries
                raise CompetitionError(
                    f"{job.experiment.name}: unit {unit.label} failed on Ray after {self.max_retries} retries: "
                    f"{str(exc).splitlines()[0]}; the units trained so far are stored, and a rerun trains the "
                    "rest"
                ) from exc
            self.nodes.append(node)
            if job.log:
                job.log(f"{unit.label} trained on node {node} in {seconds:.1f}s")
            yield unit, output
