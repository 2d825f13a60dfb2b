"""The execution path (precision, memory layout, compilation): set from a spec, or chosen by a probe that
times each candidate path on this machine and rules out one whose loss disagrees with fp32 eager."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from competition import execution, memory
from competition.errors import ConfigError
from competition.execution import (ExecutionPath, cached_probe, candidate_paths, choose, probe, refused_paths,
                                  supported_precisions)
from competition.experiment import Budget, Experiment
from competition.models import create_model
from competition.provenance import environment
from competition.report import execution_line
from competition.runner import RunContext, run
from competition.store import Store

TINY = Budget("tiny", max_train=200, max_epochs=1)
SPEC = Experiment("digits-path", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=32)
HAS_BF16 = "bf16" in supported_precisions("cpu")


def test_the_path_fields_are_checked_and_keyed_only_when_changed():
    assert not {"precision", "channels_last", "compile"} & set(SPEC.to_dict())  # every earlier run keeps its key
    assert SPEC.with_(channels_last=False).to_dict()["channels_last"] is False
    assert SPEC.with_(precision="auto").to_dict()["precision"] == "auto"
    for kwargs, match in [({"precision": "fp64"}, "precision='fp64'"), ({"channels_last": "yes"}, "True, False or"),
                          ({"compile": 1}, "compile=1")]:
        with pytest.raises(ConfigError, match=match):
            SPEC.with_(**kwargs)


def test_auto_offers_every_value_and_a_choice_offers_itself():
    assert candidate_paths("fp32", True, False, "cpu") == [ExecutionPath("fp32", True, False)]
    paths = candidate_paths("auto", "auto", False, "cpu")
    assert len(paths) == 2 * len(supported_precisions("cpu")) and all(not p.compile for p in paths)
    assert {p.label for p in candidate_paths("fp32", False, "auto", "cpu")} == {"fp32+nchw", "fp32+nchw+compile"}


def test_the_probe_times_each_path_and_measures_its_loss_against_fp32():
    paths = candidate_paths("auto", "auto", False, "cpu")
    records = probe(lambda: create_model("rescnn", 10, in_chans=1, input_size=(8, 8), width=4), (1, 8, 8), 10, 16,
                    "cpu", paths)
    assert [r["label"] for r in records] == [p.label for p in paths]
    assert all(r["images_per_s"] > 0 for r in records)
    by_label = {r["label"]: r for r in records}
    assert by_label["fp32+nchw"]["loss_error"] == 0 and by_label["fp32+channels_last"]["loss_error"] < 1e-5
    if HAS_BF16:  # bf16 rounds, but stays close
        assert 0 < by_label["bf16+nchw"]["loss_error"] < execution.LOSS_TOLERANCE


def record(label, speed, error=0.0, compile_seconds=0.0):
    precision, layout, *compiled = label.split("+")
    return {"label": label, "precision": precision, "channels_last": layout == "channels_last",
            "compile": bool(compiled), "images_per_s": speed, "loss_error": error, "compile_seconds": compile_seconds}


def test_the_choice_is_the_fastest_path_that_agrees_and_pays_back_its_compilation():
    eager, fast_but_wrong = record("fp32+nchw", 100.0), record("bf16+nchw", 300.0, error=0.2)
    compiled = record("fp32+nchw+compile", 200.0, compile_seconds=60.0)
    # 1000 steps of 100 images: eager 1000 s, compiled 500 s + 60 s; 50 steps: eager 50 s, compiled 25 + 60 s
    assert choose([eager, fast_but_wrong, compiled], 1000, 100)["label"] == "fp32+nchw+compile"
    assert choose([eager, fast_but_wrong, compiled], 50, 100)["label"] == "fp32+nchw"
    with pytest.raises(ConfigError, match="precision='fp32'"):
        choose([fast_but_wrong], 50, 100)


def test_a_path_whose_claim_failed_here_is_never_chosen_and_a_later_pass_lifts_that(tmp_path):
    paths = candidate_paths("fp32", "auto", "auto", "cpu")
    records = [record("fp32+nchw", 100.0), record("fp32+channels_last", 150.0),
               record("fp32+nchw+compile", 120.0), record("fp32+channels_last+compile", 300.0)]
    assert choose(records, 10_000, 100, refused_paths(tmp_path, "cpu", paths))["label"] == "fp32+channels_last+compile"
    execution.record_path_verdict(tmp_path, "cpu", {"compile": True}, "fail",
                                  {"delta": -0.03, "low": -0.05, "high": -0.01})
    execution.record_path_verdict(tmp_path, "cpu", {"channels_last": False}, "pass", {"delta": 0.0})
    refused = refused_paths(tmp_path, "cpu", paths)
    assert set(refused) == {"fp32+nchw+compile", "fp32+channels_last+compile"}
    assert "{'compile': True} failed its claim" in refused["fp32+nchw+compile"] and "-0.0300" in refused[
        "fp32+nchw+compile"]
    assert choose(records, 10_000, 100, refused)["label"] == "fp32+channels_last"
    assert refused_paths(tmp_path, "cuda", paths) == {}  # a verdict holds for the device kind it was made on
    with pytest.raises(ConfigError, match="failed their claims here"):
        choose([records[3]], 10_000, 100, refused)
    execution.record_path_verdict(tmp_path, "cpu", {"compile": True}, "pass", {"delta": 0.001})
    assert refused_paths(tmp_path, "cpu", paths) == {}


def test_a_run_set_to_auto_skips_the_path_a_claim_refused_and_says_so(data_root, tmp_path):
    store = Store(tmp_path / "runs")
    spec = SPEC.with_(channels_last="auto")
    context = RunContext(store=store, data_root=data_root, progress_file=False)
    first = run(spec, TINY, context)
    chosen_layout = first.provenance.execution["path"].split("+")[1] == "channels_last"
    execution.record_path_verdict(store.root, "cpu", {"channels_last": chosen_layout}, "fail",
                                  {"delta": -0.02, "low": -0.03, "high": -0.01})
    second = run(spec, TINY, context)
    chose, then = first.provenance.execution, second.provenance.execution
    assert then["probe_cached"] and then["path"] != chose["path"]
    assert list(then["refused"]) == [chose["path"]] and second.key != first.key
    assert f"not {first.provenance.execution['path']}: " in execution_line(second.provenance.execution)


def test_a_probe_is_kept_per_machine_and_shape_and_a_damaged_cache_costs_a_probe(tmp_path):
    calls = []

    def measure():
        calls.append(1)
        return [record("fp32+nchw", 10.0)]

    shape = {"model": "rescnn", "batch": 16}
    assert cached_probe(tmp_path, shape, measure) == ([record("fp32+nchw", 10.0)], False)
    assert cached_probe(tmp_path, shape, measure)[1] is True and len(calls) == 1
    assert cached_probe(tmp_path, {**shape, "batch": 32}, measure)[1] is False and len(calls) == 2
    (tmp_path / execution.PROBE_FILE).write_text("{not json")
    with pytest.warns(UserWarning, match=f"{execution.PROBE_FILE}: unreadable"):
        assert cached_probe(tmp_path, shape, measure)[1] is False and len(calls) == 3
    assert len(json.loads((tmp_path / execution.PROBE_FILE).read_text())) == 1



def test_a_spec_set_to_auto_trains_on_the_probed_path_keys_to_it_and_repeats_bit_for_bit(data_root, tmp_path):
    store = Store(tmp_path / "runs")
    spec = SPEC.with_(precision="auto", channels_last="auto")
    first = run(spec, TINY, RunContext(store=store, data_root=data_root, progress_file=False))
    chosen = first.provenance.execution
    assert chosen["chosen_by"] == "probe" and not chosen["probe_cached"] and chosen["cpu"]
    assert len(chosen["probe"]) == 2 * len(supported_precisions("cpu"))
    assert first.spec.get("precision", "fp32") != "auto" and first.spec.get("channels_last", True) != "auto"
    again = run(spec, TINY, RunContext(store=store, data_root=data_root, progress_file=False))
    assert again.provenance.cache_hit and again.key == first.key
    assert again.provenance.execution == chosen  # the probe was cached
    retrained = run(spec, TINY, RunContext(store=store, data_root=data_root, progress_file=False, rerun=True))
    assert np.array_equal(retrained.oof_probs, first.oof_probs), f"{chosen['path']} is not deterministic"


def test_a_fixed_path_is_recorded_and_one_this_device_lacks_is_refused_before_training(data_root, tmp_path):
    result = run(SPEC.with_(channels_last=False), TINY, RunContext(data_root=data_root, progress_file=False))
    assert result.provenance.execution == {"path": "fp32+nchw", "chosen_by": "spec"}
    with pytest.raises(ConfigError, match="precision='fp16' is not supported on cpu"):
        run(SPEC.with_(precision="fp16"), TINY, RunContext(data_root=data_root, progress_file=False))


@pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bf16 support in oneDNN")
def test_bf16_training_repeats_bit_for_bit_and_is_not_fp32(data_root):
    context = RunContext(data_root=data_root, progress_file=False)
    fp32 = run(SPEC, TINY, context)
    bf16 = [run(SPEC.with_(precision="bf16"), TINY, context) for _ in range(2)]
    assert np.array_equal(bf16[0].oof_probs, bf16[1].oof_probs)
    assert not np.array_equal(bf16[0].oof_probs, fp32.oof_probs)  # it did train in bf16


def test_a_compiled_forward_trains_the_same_model_and_repeats_bit_for_bit(data_root):
    """torch.compile (inductor, a C++ compiler on CPU): tens of seconds the first time on a machine."""
    context = RunContext(data_root=data_root, progress_file=False)
    eager = run(SPEC, TINY, context)
    compiled = [run(SPEC.with_(compile=True), TINY, context) for _ in range(2)]
    assert compiled[0].provenance.execution["path"] == "fp32+channels_last+compile"
    assert np.array_equal(compiled[0].oof_probs, compiled[1].oof_probs)
    assert np.abs(compiled[0].oof_probs - eager.oof_probs).max() < 1e-4


def test_the_run_report_states_the_path_and_what_the_probe_measured(data_root, tmp_path):
    from competition.report import write_run_report
    result = run(SPEC.with_(channels_last="auto"), TINY, RunContext(data_root=data_root, progress_file=False))
    text = (write_run_report(result, tmp_path / "report") / "report.md").read_text()
    execution = result.provenance.execution
    assert f"execution path: {execution['path']}, probed on {execution['cpu']}" in text
    assert "fp32+nchw" in text and "fp32+channels_last" in text and "img/s" in text


class FlattensWithView(nn.Module):
    """A tutorial's model: it flattens with .view, which needs the NCHW layout its author trained in."""

    def __init__(self, num_classes, in_chans):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


@pytest.mark.parametrize("channels_last", [True, "auto"])
def test_ones_own_model_that_needs_nchw_trains_in_it_and_is_told_why(data_root, channels_last):
    """The default layout is channels_last, in which `x.view(x.size(0), -1)` raises: one's own model, copied from
    a tutorial, failed at its first batch with torch's view error. It trains in NCHW now, with a warning that
    names the error and the fix, and the result records why."""
    spec = SPEC.with_(name="view-net", model=FlattensWithView, channels_last=channels_last)
    with pytest.warns(execution.ExecutionWarning, match=r"FlattensWithView.*view size.*\.reshape"):
        result = run(spec, TINY, RunContext(data_root=data_root, progress_file=False))
    assert result.spec["channels_last"] is False
    assert "view size is not compatible" in result.provenance.execution["channels_last_refused"]
    assert result.folds[0]["history"][-1]["train_loss"] > 0


def test_a_model_that_takes_both_layouts_keeps_channels_last(data_root, recwarn):
    result = run(SPEC.with_(name="flatten-net", model=lambda num_classes, in_chans: nn.Sequential(
        nn.Conv2d(in_chans, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, num_classes))), TINY,
        RunContext(data_root=data_root, progress_file=False))
    assert "channels_last" not in result.spec and "channels_last_refused" not in result.provenance.execution
    assert not [w for w in recwarn if issubclass(w.category, execution.ExecutionWarning)]


# Ten training steps of a small SpeedNet in a fresh process, after three to warm up: the page faults
# they take. With glibc's moving thresholds most fresh processes fault their activations in every step
# (about 5,000 faults a step here), and some do not: which, depends on where the heap's top lands. With
# the heap kept, a process takes none, or the heap's last growth (729-2,916) once.
HEAP_STEPS = """
import resource, sys, torch
from competition import memory
from competition.models import create_model
if sys.argv[1] == "kept":
    memory.keep_freed_memory()
torch.manual_seed(0)
model = create_model("speednet", 10, in_chans=1, input_size=(28, 28), widths=(16, 32, 64))
x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
def step():
    torch.nn.functional.cross_entropy(model(x), y).backward()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, memory.heap_setting())
"""


def heap_steps(setting: str) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-c", HEAP_STEPS, setting], capture_output=True, text=True, check=True)
    faults, said = out.stdout.strip().split(" ", 1)
    return int(faults), said


@pytest.mark.skipif(memory.glibc() is None, reason="the heap's thresholds are glibc's mallopt")
def test_kept_freed_memory_lets_later_steps_reuse_their_pages_instead_of_faulting_them_in():
    default: list[tuple[int, str]] = []
    while len(default) < 3 and not any(faults >= 20_000 for faults, _ in default):
        default.append(heap_steps("default"))
    most = max(faults for faults, _ in default)
    if most < 20_000:
        pytest.skip(f"no fresh process of three faulted its steps in by default here ({most} faults at most)")
    kept = [heap_steps("kept") for _ in range(3)]  # each under one step's faults; a no-op faults in most
    assert all(faults < 5000 for faults, _ in kept), (kept, default)
    assert all("not yet set" in said for _, said in default)
    assert all(said.startswith("glibc, blocks up to 32 MiB from the heap") for _, said in kept)


def test_training_runs_with_the_kept_heap_and_the_environment_says_so(data_root, tmp_path):
    run(SPEC, TINY, RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False))
    assert memory.heap_setting() == memory.keep_freed_memory()  # set once: a second call changes nothing
    assert environment()["heap"] == memory.heap_setting()
    assert memory.glibc() is None or memory.heap_setting().startswith("glibc, blocks")


def allocator_to_preload() -> str:
    found = sorted(glob.glob("/usr/lib/*/libjemalloc.so*") + glob.glob("/usr/lib/*/libtcmalloc*.so*"))
    return os.environ.get("COMPETITION_TEST_ALLOCATOR", found[0] if found else "")


@pytest.mark.skipif(not allocator_to_preload(),
                    reason="no jemalloc or tcmalloc here to preload (COMPETITION_TEST_ALLOCATOR names one)")
def test_an_allocator_preloaded_in_front_of_glibc_is_left_alone_and_named():
    library = allocator_to_preload()
    code = "from competition import memory; print(memory.keep_freed_memory())"
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "LD_PRELOAD": library}).stdout
    assert said.startswith(f"{library}'s own (preloaded")
