"""`competition init`: one's own CI gate in one command, on a fresh mask-format competition. Recording the
baselines and then gating on them passes; a fault (training labels shuffled) fails the gate."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from competition.cli import main as cli
from competition.data import load_competition
from competition.data.formats import GENDERS, MASK_STEMS, mask_class

pytest_plugins = ["pytester"]

FAULT = '''
import torch
import competition.cv as cv

original_fit = cv.fit


def fit(model, train_ds, val_ds, cfg, **kw):
    """The fault: the rows a unit trains on get a permutation of their labels."""
    order = torch.randperm(len(train_ds.labels), generator=torch.Generator().manual_seed(0))
    train_ds.labels = train_ds.labels[order]
    return original_fit(model, train_ds, val_ds, cfg, **kw)


cv.fit = fit
'''


def digit_image(digits, label: int, rng) -> np.ndarray:
    """A sklearn digit of label % 10 at 16 x 16, inverted for labels >= 10: a learnable image per class."""
    choices = np.flatnonzero(digits.target == label % 10)
    image = digits.images[rng.choice(choices)] * (255 / 16)
    image = np.kron(image, np.ones((2, 2)))
    image = (255 - image if label >= 10 else image).astype(np.uint8)
    image[0, :4] = rng.integers(0, 256, 4)  # each image its own bytes: copies across people are refused
    return image


def mask_competition(root, people: int = 150, eval_people: int = 10):
    """A mask-format competition whose images show their class (so a small CNN learns it)."""
    digits, rng = load_digits(), np.random.default_rng(0)
    rows = []
    for pid in range(people):
        gender, age = ("male", "female")[pid % 2], (25, 45, 65)[(pid // 2) % 3]
        folder = f"{pid:06d}_{gender}_Asian_{age}"
        rows.append({"id": f"{pid:06d}", "gender": gender, "race": "Asian", "age": age, "path": folder})
        for stem, mask in MASK_STEMS.items():
            label = mask_class(mask, GENDERS[gender], age)
            path = root / "train" / "images" / folder / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(digit_image(digits, label, rng)).save(path)
    pd.DataFrame(rows).to_csv(root / "train" / "train.csv", index=False)
    ids, labels = [], []
    for i in range(eval_people * len(MASK_STEMS)):
        ids.append(f"e{i:04d}.png")
        labels.append(int(rng.integers(18)))
        path = root / "eval" / "images" / ids[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digit_image(digits, labels[-1], rng)).save(path)
    pd.DataFrame({"ImageID": ids, "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    # the eval answers (one's own split): the gate then guards the eval score, its optimism and per-class recall
    pd.DataFrame({"ImageID": ids, "ans": labels}).to_csv(root / "answers.csv", index=False)
    (root / "competition.json").write_text('{"answers": "answers.csv"}')
    return root


@pytest.mark.slow
def test_init_writes_a_gate_that_records_passes_and_catches_a_fault(pytester, tmp_path, capsys):
    root = mask_competition(tmp_path / "masks")
    assert load_competition(root).format == "mask"
    out = pytester.path / "test_masks.py"
    assert cli(["init", str(root), "--out", str(out)]) == 0
    assert f"pytest {out} --budget smoke --update-baselines" in capsys.readouterr().out
    assert cli(["init", str(root), "--out", str(out)]) == 1, "an existing file is never replaced silently"
    common = ["--budget", "smoke", "-p", "no:cacheprovider", f"--reports-dir={tmp_path / 'reports'}",
              f"--data-dir={tmp_path / 'data'}"]
    record = pytester.runpytest_subprocess(str(out), *common, f"--runs-dir={tmp_path / 'runs'}",
                                           "--update-baselines")
    record.assert_outcomes(passed=8, skipped=1)  # six result guards, the split's groups and the submission
    assert (pytester.path / "baselines" / "submission.csv").exists()
    gate = pytester.runpytest_subprocess(str(out), *common, f"--runs-dir={tmp_path / 'runs2'}")
    gate.assert_outcomes(passed=8, skipped=1)  # the guards that read the eval answers were given none before
    pytester.makeconftest(FAULT)
    faulty = pytester.runpytest_subprocess(str(out), *common, f"--runs-dir={tmp_path / 'runs3'}")
    outcomes = faulty.parseoutcomes()
    assert outcomes.get("failed", 0) >= 2, faulty.stdout.str()[-3000:]
    faulty.stdout.fnmatch_lines(["*FAILED*test_guard_model*no_regression*score*"])


def small_csv_competition(root, train_rows: int = 160, eval_rows: int = 30, classes: int = 3):
    """A csv-format competition of a few hundred images, as a small Kaggle dataset is: three digit classes."""
    digits, rng = load_digits(), np.random.default_rng(1)
    for split, rows in (("train", train_rows), ("eval", eval_rows)):
        labels = np.arange(rows) % classes
        paths = [f"{i:04d}.png" for i in range(rows)]
        for path, label in zip(paths, labels):
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(digit_image(digits, int(label), rng)).save(root / split / "images" / path)
        if split == "train":
            pd.DataFrame({"path": [f"images/{p}" for p in paths], "label": labels}).to_csv(
                root / "train" / "train.csv", index=False)
        else:
            pd.DataFrame({"ImageID": paths, "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
            pd.DataFrame({"ImageID": paths, "ans": labels}).to_csv(root / "answers.csv", index=False)
    (root / "competition.json").write_text('{"answers": "answers.csv"}')
    return root


@pytest.mark.slow
def test_init_on_a_small_competition_takes_enough_steps_to_learn(pytester, tmp_path, capsys):
    """160 images train 128 rows in the holdout: the default batch took 10 steps in smoke's five epochs, the
    guard model stayed at the dummy's score and failed beats_dummy on an unchanged project (and at the standard
    budget a batch of 256 exceeded the rows). The written guard's batch gives ten steps per epoch."""
    root = small_csv_competition(tmp_path / "small")
    out = pytester.path / "test_small.py"
    assert cli(["init", str(root), "--out", str(out)]) == 0
    assert "batch_size=8," in out.read_text()
    common = ["--budget", "smoke", "-p", "no:cacheprovider", f"--reports-dir={tmp_path / 'reports'}",
              f"--data-dir={tmp_path / 'data'}"]
    record = pytester.runpytest_subprocess(str(out), *common, f"--runs-dir={tmp_path / 'runs'}",
                                           "--update-baselines")
    record.assert_outcomes(passed=8, skipped=1)
    gate = pytester.runpytest_subprocess(str(out), *common, f"--runs-dir={tmp_path / 'runs2'}")
    gate.assert_outcomes(passed=8, skipped=1)
