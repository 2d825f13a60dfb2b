"""Layer 4. The execution path of a training step (precision, memory layout, compilation), chosen by
measurement on this machine.

Which path is fastest depends on the machine: bf16 autocast is slower than fp32 on a CPU without bf16
matrix units and twice as fast with AMX; channels_last helps convolutions on some CPUs and not on
others. So a spec may say precision="auto", channels_last="auto" or compile="auto", and before training
a probe times a few training steps of the spec's model on every candidate path, in interleaved rounds
(a load that drifts during the probe falls on every path alike), and keeps the median step. A path
whose loss on the probe's batch is not within LOSS_TOLERANCE of fp32 eager's is ruled out, and a
compiled path is chosen only when its compile time pays back within the run's steps.

The probe is cached in the store's root per machine (CPU model and ISA flags, GPU name, torch version)
and model shape, so a spec keys to the same path on every run on one machine; the chosen path is
written into the spec (its store key) and the probe's figures into Result.provenance.execution.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .errors import ConfigError
from .files import atomic_write
from .memory import keep_freed_memory
from .provenance import cpu_model_and_isa
from .train.loop import AMP_DTYPES

PROBE_FILE = "execution_probes.json"
VERDICT_FILE = "execution_verdicts.json"  # the path claims' outcomes per machine (record_path_verdict)
LOSS_TOLERANCE = 0.05  # a path's first-step loss may differ from fp32 eager's by this fraction
PROBE_ROUNDS, PROBE_STEPS = 3, 2  # timed rounds over all paths, steps per path in a round


class ExecutionWarning(UserWarning):
    """A spec's execution path was changed to one its model can run (channels_last_failure)."""


def training_step_fails(model: nn.Module, input_shape: tuple[int, int, int], device: str, channels_last: bool) -> str:
    """The error a forward and backward of a batch of two raise in the given layout, or ''."""
    x = torch.zeros(2, *input_shape, device=device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    try:
        model(x).float().sum().backward()
    except Exception as exc:  # one's own model: whatever it raises is what it cannot do
        return f"{type(exc).__name__}: {exc}".strip()
    return ""


def channels_last_failure(make_model: Callable[[], nn.Module], input_shape: tuple[int, int, int], device: str) -> str:
    """Why a model cannot train on channels_last inputs while it can on NCHW ones (a forward that flattens with
    `x.view(x.size(0), -1)`, as tutorials write it, raises on channels_last feature maps), or ''. One's own model
    is tried on a fresh copy of each layout before training: the default layout is channels_last, and such a
    model failed at its first batch with torch's view error."""
    failure = training_step_fails(make_model().to(device), input_shape, device, channels_last=True)
    if failure and not training_step_fails(make_model().to(device), input_shape, device, channels_last=False):
        return failure
    return ""


@dataclass(frozen=True)
class ExecutionPath:
    precision: str = "fp32"  # "fp32", or the autocast dtype: "bf16", "fp16" (CUDA)
    channels_last: bool = True
    compile: bool = False

    @property
    def label(self) -> str:
        return "+".join(
            [self.precision, "channels_last" if self.channels_last else "nchw"] + (["compile"] if self.compile else [])
        )


def supported_precisions(device: str) -> list[str]:
    if device.startswith("cuda"):
        return ["fp32", "bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    return ["fp32", "bf16"] if torch.ops.mkldnn._is_mkldnn_bf16_supported() else ["fp32"]


def candidate_paths(precision: str, channels_last: bool | str, compile: bool | str, device: str) -> list[ExecutionPath]:
    """Every path the spec's choices allow on this device ("auto" allows each value)."""
    precisions = supported_precisions(device) if precision == "auto" else [precision]
    layouts = [False, True] if channels_last == "auto" else [bool(channels_last)]
    compiles = [False, True] if compile == "auto" else [bool(compile)]
    return [ExecutionPath(p, c, k) for p in precisions for c in layouts for k in compiles]


def machine() -> dict:
    cpu, isa = cpu_model_and_isa()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu, "isa": isa, "gpu": gpu, "torch": torch.__version__}


# --- the probe ----------------------------------------------------------------------------------
def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class PathStep:
    """One path's training step on a fresh model (same seed for every path, so the first losses compare)."""

    def __init__(self, path: ExecutionPath, make_model: Callable[[], nn.Module], batch: tuple, device: str):
        torch.manual_seed(0)
        self.path, self.device = path, device
        model = make_model().to(device)
        if path.channels_last:
            model = model.to(memory_format=torch.channels_last)
        x, y = batch
        self.x = x.contiguous(memory_format=torch.channels_last) if path.channels_last else x
        self.y = y
        self.net = torch.compile(model) if path.compile else model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        self.compile_seconds = 0.0
        self.first_loss = self.step()  # the first call compiles, when compiling
        self.times: list[float] = []

    def step(self) -> float:
        started = time.perf_counter()
        dtype = AMP_DTYPES.get(self.path.precision)
        with torch.autocast(torch.device(self.device).type, dtype=dtype) if dtype else nullcontext():
            logits = self.net(self.x)
        loss = nn.functional.cross_entropy(logits.float(), self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        sync(self.device)
        if self.path.compile and not self.compile_seconds:
            self.compile_seconds = time.perf_counter() - started
        return loss.detach().item()


def probe(
    make_model: Callable[[], nn.Module],
    input_shape: tuple[int, int, int],
    num_classes: int,
    batch_size: int,
    device: str,
    paths: list[ExecutionPath],
    rounds: int = PROBE_ROUNDS,
    steps: int = PROBE_STEPS,
) -> list[dict]:
    """Time each path's training step (median over interleaved rounds) and check its first loss against
    fp32 eager's. Returns one record per path: label, images per second, loss error, compile seconds."""
    keep_freed_memory()  # time the steps in the heap regime fit will train in
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=generator).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)
    reference = ExecutionPath("fp32", False, False)
    path_steps = {path: PathStep(path, make_model, (x, y), device) for path in dict.fromkeys([reference, *paths])}
    for _ in range(rounds):
        for path_step in path_steps.values():
            started = time.perf_counter()
            for _ in range(steps):
                path_step.step()
            path_step.times.append((time.perf_counter() - started) / steps)
    base_loss = path_steps[reference].first_loss
    return [
        {
            **asdict(path),
            "label": path.label,
            "images_per_s": batch_size / statistics.median(path_steps[path].times),
            "loss_error": abs(path_steps[path].first_loss - base_loss) / max(abs(base_loss), 1e-12),
            "compile_seconds": path_steps[path].compile_seconds,
        }
        for path in paths
    ]


def choose(records: list[dict], planned_steps: int, batch_size: int, refused: dict[str, str] | None = None) -> dict:
    """The fastest path whose loss agrees with fp32 eager, that no claim on this machine has refused
    (`refused`: label -> why, from refused_paths) and, if compiled, whose compile time pays back over the
    planned steps (against the fastest eager path)."""
    refused = refused or {}
    agreeing = [r for r in records if r["loss_error"] <= LOSS_TOLERANCE and r["label"] not in refused]
    if not agreeing:
        raise ConfigError(
            f"no execution path agrees with fp32 eager within {LOSS_TOLERANCE:.0%} on the probe's "
            f"loss: {[(r['label'], round(r['loss_error'], 4)) for r in records]}"
            + (f", and these failed their claims here: {refused}" if refused else "")
            + "; set precision='fp32'"
        )

    def run_seconds(record: dict) -> float:
        return planned_steps * batch_size / record["images_per_s"] + record["compile_seconds"]

    return min(agreeing, key=run_seconds)


# --- the cache ----------------------------------------------------------------------------------
def probe_key(shape: dict) -> str:
    return hashlib.sha256(json.dumps({**shape, **machine()}, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_probe(root: Path | None, shape: dict, run_probe: Callable[[], list[dict]]) -> tuple[list[dict], bool]:
    """The probe's records for this machine and model shape: from root/PROBE_FILE, else measured and kept
    there. (records, True when cached)."""
    path = Path(root) / PROBE_FILE if root is not None else None
    key = probe_key(shape)
    known = read_machine_records(path)
    if key in known:
        return known[key]["records"], True
    records = run_probe()
    if path is not None:
        known = read_machine_records(path)  # another run may have added its probe meanwhile
        known[key] = {"shape": shape, "machine": machine(), "records": records}
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(known, indent=1)))
    return records, False


def read_machine_records(path: Path | None) -> dict:
    """The probes or verdicts kept in `path`; {} when there is none. A damaged file costs a probe, never a
    run; its verdicts are forgotten with a warning that names it (the path claims record them again)."""
    if path is None or not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        warnings.warn(
            f"{path}: unreadable ({error}); it is written anew, and what it held is measured again", stacklevel=2
        )
        return {}


# --- the path claims' verdicts ------------------------------------------------------------------------
def verdict_key(device: str) -> str:
    return hashlib.sha256(
        json.dumps({**machine(), "device": torch.device(device).type}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def record_path_verdict(root: Path, device: str, change: dict, outcome: str, figures: dict) -> None:
    """Keep the verdict of a claim that a path change ({"precision": "bf16"}, {"compile": True}, ...) trains
    as well as fp32 eager, for this machine and device kind in root/VERDICT_FILE. A "fail" refuses every
    path with that change to the automatic choice here (refused_paths); a later "pass" lifts it."""
    path = Path(root) / VERDICT_FILE
    known = read_machine_records(path)
    entry = known.setdefault(verdict_key(device), {"machine": machine(), "device": device, "verdicts": {}})
    entry["verdicts"][json.dumps(change, sort_keys=True)] = {"change": change, "outcome": outcome, "figures": figures}
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(known, indent=1, default=float)))


def refused_paths(root: Path | None, device: str, paths: list[ExecutionPath]) -> dict[str, str]:
    """label -> why, for each of `paths` that carries a change whose claim failed on this machine."""
    if root is None:
        return {}
    verdicts = read_machine_records(Path(root) / VERDICT_FILE).get(verdict_key(device), {}).get("verdicts", {})
    failed = [v for v in verdicts.values() if v.get("outcome") == "fail"]
    refused = {}
    for path in paths:
        for verdict in failed:
            if all(getattr(path, field, None) == value for field, value in verdict["change"].items()):
                figures = verdict.get("figures", {})
                refused[path.label] = (
                    f"{verdict['change']} failed its claim against fp32 eager here "
                    f"(delta {figures.get('delta', float('nan')):+.4f} "
                    f"[{figures.get('low', float('nan')):+.4f}, "
                    f"{figures.get('high', float('nan')):+.4f}])"
                )
    return refused
