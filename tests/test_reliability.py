"""Reliability and security: no code from data, no reads outside the competition, a store that
survives tampering and concurrency, clean-up after kills, and bad inputs named."""
from __future__ import annotations

import json
import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from competition.data import load_competition, prepare
from competition.data.cache import CacheWarning, open_cache, Preprocess
from competition.errors import CheckpointError, DataError
from competition.experiment import Budget, Experiment
from competition.models import create_model
from competition.runner import RunContext, run
from competition.store import Store, StoreWarning
from competition.train.loop import load_resume_state
from conftest import write_image

TINY = Budget("tiny", max_train=120, max_epochs=1)
SPEC = Experiment("digits-rel", data="digits", model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=32,
                  cv="stratified:2")



def context(store, data_root, **kw):
    return RunContext(store=store, data_root=data_root, progress_file=False, **kw)


# --- no code from data ------------------------------------------------------------------------
class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def plant(path: Path, marker: Path, wrap=lambda payload: {"model": payload}) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(Payload(marker)), path)
    return path


def test_a_payload_in_a_resume_checkpoint_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(CheckpointError, match="corrupt or unsafe checkpoint"):
        load_resume_state(plant(tmp_path / "last.pt", marker))
    assert not marker.exists()


def test_a_payload_in_a_pretrained_checkpoint_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(CheckpointError, match="unsafe checkpoint"):
        create_model("rescnn", 10, in_chans=1, width=4, pretrained=plant(tmp_path / "x.pt", marker))
    assert not marker.exists()


def test_a_payload_in_stored_unit_weights_does_not_run(data_root, tmp_path):
    from competition.posthoc import apply_tta

    store = Store(tmp_path / "runs")
    result = run(SPEC, TINY, context(store, data_root))
    marker = tmp_path / "ran"
    plant(store.weights_path(result.provenance.unit_key, "fold0-seed0"), marker, wrap=lambda payload: payload)
    with pytest.raises(Exception, match="not the weights its unit recorded"):
        apply_tta(result, ("identity",), context=context(store, data_root), budget=TINY)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    ([1, 2, 3], "the checkpoint is list"),
    ({"head.weight": "not a tensor"}, "non-tensor values"),
])
def test_checkpoints_that_are_not_state_dicts_are_named(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        create_model("rescnn", 10, in_chans=1, width=4, pretrained=path)


def test_a_resume_checkpoint_of_another_model_is_named(data_root, tmp_path):
    from competition.train import TrainConfig, fit
    from competition.data import CachedDataset

    images = np.random.default_rng(0).integers(0, 255, (64, 8, 8, 1), dtype=np.uint8)
    data = CachedDataset(images, np.arange(64) % 2)
    cfg = TrainConfig(epochs=1, batch_size=16)
    fit(create_model("rescnn", 2, in_chans=1, width=4), data, None, cfg, checkpoint_dir=tmp_path, progress_file=False)
    with pytest.raises(CheckpointError, match="belongs to another model"):
        fit(create_model("rescnn", 2, in_chans=1, width=8), data, None, cfg, checkpoint_dir=tmp_path,
            progress_file=False)


# --- containment -------------------------------------------------------------------------------
def csv_competition(root: Path, rows: list[dict], eval_ids=("e.png",)) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):  # paths are relative to the CSV's folder
        write_image(root / "train" / name, rng)
    pd.DataFrame(rows).to_csv(root / "train" / "train.csv", index=False)
    write_image(root / "eval" / "images" / "e.png", rng)
    pd.DataFrame({"ImageID": list(eval_ids), "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    (root / "competition.json").write_text(json.dumps({"min_class_rows": 1}))  # one image per class is the point
    return root


@pytest.mark.parametrize("value", ["../../outside/secret.png", "/etc/hostname", "images/../../x.png"])
def test_a_csv_path_outside_the_root_is_refused(tmp_path, value):
    outside = tmp_path / "outside"
    write_image(outside / "secret.png", np.random.default_rng(1))
    root = csv_competition(tmp_path / "comp", [{"path": "a.png", "label": 0}, {"path": value, "label": 1}])
    with pytest.raises(DataError, match=rf"row 3 has path '{value}'.*inside the competition root"):
        load_competition(root)


def test_an_eval_id_that_climbs_out_is_refused(tmp_path):
    root = csv_competition(tmp_path / "comp", [{"path": "a.png", "label": 0}, {"path": "b.png", "label": 1}],
                           eval_ids=("../../train/images/a.png",))
    with pytest.raises(DataError, match=r"info.csv: row 2 has path '../../train/images/a.png'"):
        load_competition(root)


def test_a_symlink_out_of_the_root_is_refused_unless_allowed(tmp_path):
    secret = write_image(tmp_path / "outside" / "secret.png", np.random.default_rng(1))
    root = csv_competition(tmp_path / "comp", [{"path": "a.png", "label": 0}, {"path": "link.png", "label": 1}])
    (root / "train" / "link.png").symlink_to(secret)
    with pytest.raises(DataError, match="row 3 path 'link.png' resolves to .*outside the competition root"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"allow_outside_links": True, "min_class_rows": 1}))
    assert len(load_competition(root).train) == 2


# --- a store that survives tampering ----------------------------------------------------------------
@pytest.fixture
def stored(data_root, tmp_path):
    store = Store(tmp_path / "runs")
    return run(SPEC, TINY, context(store, data_root)), store


def rebuilt_after(tamper, result, store, data_root, match):
    tamper()
    with pytest.warns(StoreWarning, match=match):
        again = run(SPEC, TINY, context(store, data_root))
    assert not again.provenance.cache_hit and np.array_equal(again.oof_probs, result.oof_probs)
    assert run(SPEC, TINY, context(store, data_root)).provenance.cache_hit


def test_an_edited_result_json_is_not_served(stored, data_root):
    result, store = stored
    path = store.entry(result.key) / "result.json"
    edited = json.loads(path.read_text())
    edited["folds"][0]["val_metrics"]["macro_f1"] = 0.99
    rebuilt_after(lambda: path.write_text(json.dumps(edited)), result, store, data_root, "does not match its manifest")


def test_arrays_with_the_wrong_shape_are_not_served_even_with_a_fresh_manifest(stored, data_root):
    from competition.files import sha256_file

    result, store = stored
    entry = store.entry(result.key)

    def shrink():
        with np.load(entry / "arrays.npz") as arrays:
            data = {k: arrays[k] for k in arrays.files}
        data["oof_probs"] = data["oof_probs"][:100]
        np.savez(entry / "arrays.npz", **data)
        (entry / "MANIFEST.json").write_text(json.dumps({name: sha256_file(entry / name)
                                                         for name in ("arrays.npz", "result.json")}))
    rebuilt_after(shrink, result, store, data_root, "oof_probs has shape")


def test_reversed_unit_probabilities_are_not_served(stored, data_root):
    result, store = stored
    path = store.unit_path(result.provenance.unit_key, "fold0-seed0")

    def reverse():
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["val_probs"] = arrays["val_probs"][::-1]
        np.savez(path, **arrays)
        store.entry(result.key).joinpath("MANIFEST.json").unlink()  # and the entry, so the units are read
    rebuilt_after(reverse, result, store, data_root, "do not match the digest")


def test_a_unit_whose_record_lacks_a_field_is_not_served(stored, data_root):
    """A unit written by other code (a field renamed or dropped) is retrained, not served to fail later
    with a KeyError in whatever reads the missing field."""
    result, store = stored
    path = store.unit_path(result.provenance.unit_key, "fold0-seed0")

    def drop_history():
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(arrays["meta"].tobytes())
        del meta["history"]
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(path, **arrays)
        store.entry(result.key).joinpath("MANIFEST.json").unlink()
    rebuilt_after(drop_history, result, store, data_root, r"missing \['history'\]")


def test_a_zeroed_image_cache_of_the_same_size_is_rebuilt(data_root):
    comp = load_competition(data_root / "digits")
    spec, cache = Preprocess(channels=1), data_root / "cache-test"
    images, key = open_cache(comp.train["path"][:50], spec, cache)
    original = np.array(images)
    stored = np.load(cache / key / "images.npy", mmap_mode="r+")
    stored[:10] = 0
    stored.flush()
    del stored, images
    os.utime(cache / key / "images.npy", ns=(1, 1))  # a new mtime: not the copy verified earlier
    with pytest.warns(CacheWarning, match="does not match its checksum"):
        rebuilt, _ = open_cache(comp.train["path"][:50], spec, cache)
    assert np.array_equal(rebuilt, original)


# --- a store that survives concurrency and kills ---------------------------------------------------------
def hammer(args):
    """Save and load one key `rounds` times; return the problems seen."""
    root, template, rounds, seed = args
    store = Store(root)
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(rounds):
        try:
            if rng.random() < 0.5:
                store.save_result("k", template)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", StoreWarning)
                    loaded = store.load_result("k")
                if loaded is not None and not np.array_equal(loaded.oof_probs, template.oof_probs):
                    problems.append("partial or foreign read")
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            problems.append(f"{type(exc).__name__}: {exc}")
    return problems


def test_writers_and_readers_on_one_key_lose_nothing_and_leak_nothing(stored, tmp_path):
    result, _ = stored
    root = tmp_path / "shared"
    Store(root).save_result("k", result)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        problems = sum(pool.map(hammer, [(root, result, 150, seed) for seed in range(4)]), [])
    assert problems == []
    store = Store(root)
    assert store.load_result("k") is not None
    leftovers = [p.name for p in (root / "entries").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_temporaries_of_a_dead_process_are_cleared_on_open(tmp_path):
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    entries = tmp_path / "runs" / "entries"
    stale = entries / f".somekey.pid{dead.pid}.abcd"
    stale.mkdir(parents=True)
    live = entries / f".otherkey.pid{os.getpid()}.abcd"
    live.mkdir()
    Store(tmp_path / "runs")
    assert not stale.exists() and live.exists()


# --- bad inputs named ----------------------------------------------------------------------------------
@pytest.fixture
def valid_submission(stored, data_root, tmp_path):
    from competition.submission import write_submission

    result, _ = stored
    comp = load_competition(data_root / "digits")
    return write_submission(result, comp, tmp_path / "sub.csv"), comp, tmp_path / "sub.csv"


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.assign(ans=["3.0"] + list(s["ans"].astype(str)[1:])), r"not a whole number.*value '3.0'"),
    (lambda s: s.assign(ans=["1e0"] + list(s["ans"].astype(str)[1:])), r"not a whole number.*value '1e0'"),
    (lambda s: s.assign(extra=1), r"columns are \['ImageID', 'ans', 'extra'\]"),
])
def test_submissions_with_floats_or_extra_columns_are_refused(valid_submission, tmp_path, damage, message):
    from competition.submission import SubmissionError, validate_submission

    submission, comp, _ = valid_submission
    path = tmp_path / "damaged.csv"
    damage(submission).to_csv(path, index=False)
    with pytest.raises(SubmissionError, match=message):
        validate_submission(path, comp)


def test_an_empty_submission_file_is_named(valid_submission, tmp_path):
    from competition.submission import SubmissionError, validate_submission

    _, comp, _ = valid_submission
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(SubmissionError, match="empty.csv: the file is empty"):
        validate_submission(tmp_path / "empty.csv", comp)


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.assign(ans=["nan"] + list(s["ans"].astype(str)[1:])), "value 'nan'"),
    (lambda s: s.assign(ans=["zero"] + list(s["ans"].astype(str)[1:])), "value 'zero'"),
    (lambda s: s.iloc[:-5], r"5 missing id\(s\)"),
])
def test_a_previous_submission_that_is_not_comparable_is_an_error_not_a_diff(valid_submission, tmp_path, damage,
                                                                            message):
    from competition.submission import SubmissionError, diff_submissions, read_submission

    submission, comp, path = valid_submission
    damage(read_submission(path, comp)).to_csv(tmp_path / "previous.csv", index=False)
    with pytest.raises(SubmissionError, match=f"previous submission is not comparable.*{message}"):
        diff_submissions(submission, read_submission(tmp_path / "previous.csv", comp), comp)


def test_cuda_without_a_gpu_is_named_before_any_work(data_root):
    from competition.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ConfigError, match="no CUDA device is visible"):
        run(SPEC, TINY, RunContext(data_root=data_root, device="cuda"))


def test_an_unwritable_store_or_data_dir_is_named(tmp_path, data_root):
    from competition.errors import ConfigError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="a-file/runs: cannot use it as the result store.*--runs-dir"):
        Store(blocker / "runs")
    with pytest.raises(ConfigError, match="cannot use it as the data dir.*--data-dir"):
        prepare("digits", blocker / "data")


def test_an_unwritable_path_is_a_usage_error_at_pytest_start_up(tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_x.py"), f"--runs-dir={blocker}/runs",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 4  # pytest's usage error
    assert "cannot use it as the result store" in done.stderr and "Traceback" not in done.stderr


KILLED_RUN = """
import os
import sys
import time

import numpy as np

import competition.data.cache as cache
import competition.runner as runner
import competition.store as store
import competition.train.loop as loop
from competition.experiment import Budget, Experiment
from competition.runner import RunContext, run

POINT, _, COUNT = os.environ.get("KILL_AT", "").partition(":")
HITS = []


def reached(name):
    # at the COUNT-th time this process reaches POINT, say so and wait there to be killed
    if name == POINT:
        HITS.append(name)
        if len(HITS) == int(COUNT):
            print("REACHED", name, flush=True)
            time.sleep(600)


def hook(module, attr, name, after=False):
    original = getattr(module, attr)

    def wrapper(*args, **kwargs):
        if not after:
            reached(name)
        out = original(*args, **kwargs)
        if after:
            reached(name)
        return out

    setattr(module, attr, wrapper)


hook(cache, "preprocess_image", "cache_build")          # inside the image cache build
hook(runner, "prepare_data", "data_prepared", after=True)
hook(loop, "backward_and_step", "training_step")        # inside an epoch
hook(store, "sha256_file", "store_write")               # inside a unit's or a result's store write
spec = Experiment("digits-kill", data="digits", model="rescnn", model_kw={"width": 4}, epochs=3, batch_size=32,
                  cv="stratified:2", augmentation="crop_flip")
result = run(spec, Budget("kill", max_train=300), RunContext(store=store.Store(sys.argv[1]), data_root=sys.argv[2],
                                                             progress_file=False))
np.save(sys.argv[3], result.seed_oof_probs)
"""
# Where each run is killed, in order: the child says when it gets there, so the test's power does not
# depend on how fast the machine is. Later points resume what earlier kills left.
KILL_POINTS = ["cache_build:40", "data_prepared:1", "training_step:6", "store_write:1", "training_step:10",
               "store_write:2", "store_write:1"]


def hidden_leftovers(*folders: Path) -> list[str]:
    """Temporaries and staging folders (every one carries its writer's pid in its name)."""
    return [str(p) for folder in folders if folder.exists() for p in folder.rglob(".*") if ".pid" in p.name]


def test_runs_killed_at_signalled_points_finish_bit_identical_and_leave_nothing(tmp_path):
    """SIGKILL in the cache build, after data preparation, inside epochs and inside store writes, each at a
    point the child signals; each rerun resumes, and the last gives the uninterrupted run's probabilities
    bit for bit."""
    import os
    import subprocess
    import sys

    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)

    def start(store, data, out, kill_at=""):
        return subprocess.Popen([sys.executable, str(script), str(store), str(data), str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "KILL_AT": kill_at})

    clean = start(tmp_path / "clean-runs", tmp_path / "clean-data", tmp_path / "clean.npy")
    assert clean.wait(timeout=600) == 0, clean.stderr.read()[-2000:]
    for point in KILL_POINTS:
        victim = start(tmp_path / "runs", tmp_path / "data", tmp_path / "killed.npy", point)
        line = victim.stdout.readline()  # blocks until the child reaches the point, or ends
        if line.startswith("REACHED"):
            victim.kill()
        victim.wait(timeout=600)
        assert line.startswith("REACHED"), (f"the run ended before it reached {point}: the kill test lost that "
                                            f"point; stderr: {victim.stderr.read()[-1500:]}")
    final = start(tmp_path / "runs", tmp_path / "data", tmp_path / "killed.npy")
    assert final.wait(timeout=600) == 0, final.stderr.read()[-2000:]
    assert np.array_equal(np.load(tmp_path / "killed.npy"), np.load(tmp_path / "clean.npy"))
    assert hidden_leftovers(tmp_path / "runs", tmp_path / "data") == []
    assert not any((tmp_path / "runs" / "scratch").iterdir())


def test_a_batch_larger_than_a_fold_is_named_before_training(data_root, tmp_path):
    from competition.errors import ConfigError

    with pytest.raises(ConfigError, match=r"digits-rel fold0-seed0: batch_size=256 is larger than the 60 training"):
        run(SPEC.with_(batch_size=256), TINY, context(Store(tmp_path / "runs"), data_root))
    assert not list((tmp_path / "runs").rglob("*.npz"))  # nothing trained, nothing stored


def test_published_files_get_the_usual_permissions(tmp_path):
    from competition.files import FILE_MODE, atomic_write

    path = atomic_write(tmp_path / "x.txt", lambda tmp: tmp.write_text("x"))
    assert path.stat().st_mode & 0o777 == FILE_MODE and FILE_MODE & 0o044  # readable by group and others
