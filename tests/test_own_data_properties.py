"""Generated competitions (hypothesis): label kinds and offsets, encodings, separators, a missing or a
duplicated file, a config typo or a wrong type, a column named twice. Each either loads with every row's label
equal to the truth, or fails with a DataError that names the file, row or key and says what to do: never another
exception, never a silent change."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from competition.data import load_competition
from competition.errors import DataError

LABEL_KINDS = {
    "offset_ints": lambda k, offset: [str(offset + 3 * i) for i in range(k)],  # 1, 4, 7 ... gaps and offsets
    "zero_based": lambda k, offset: [str(i) for i in range(k)],
    "float_ints": lambda k, offset: [f"{offset + i}.0" for i in range(k)],
    "names": lambda k, offset: ["Ankle boot", "cat", "Dog", "T-shirt/top", "고양이"][:k],
}
FAULTS = ["none", "missing_file", "duplicate_content", "unknown_key", "wrong_type", "empty_label", "repeated_column"]


def canonical(value: str) -> str:
    """The label a loaded competition must report for a value as written."""
    try:
        number = float(value)
    except ValueError:
        return value.strip()
    return str(int(number)) if number.is_integer() else value


def write_competition(root: Path, labels: list[str], encoding: str, separator: str, fault: str, seed: int):
    rng = np.random.default_rng(seed)
    images = root / "train" / "images"
    images.mkdir(parents=True)
    for i in range(len(labels)):
        Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8)).save(images / f"{i}.png")
    if fault == "missing_file":
        (images / "2.png").unlink()
    if fault == "duplicate_content":
        shutil.copy(images / "0.png", images / "3.png")
    written = list(labels)
    if fault == "empty_label":
        written[1] = ""
    header = ["path", "label", "label"] if fault == "repeated_column" else ["path", "label"]
    lines = [separator.join(header)] + [separator.join([f"images/{i}.png", value] + [value] * (len(header) - 2))
                                        for i, value in enumerate(written)]
    (root / "train" / "train.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    config = {"min_class_rows": 1}
    if fault == "unknown_key":
        config["lable_column"] = "label"
    if fault == "wrong_type":
        config["allow_outside_links"] = "no"
    (root / "competition.json").write_text(json.dumps(config))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(LABEL_KINDS)), classes=st.integers(2, 4), offset=st.integers(0, 5),
       rows_per_class=st.integers(2, 3), encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp949"]),
       separator=st.sampled_from([",", ";", "\t"]), fault=st.sampled_from(FAULTS), seed=st.integers(0, 2**16),
       shuffle=st.randoms(use_true_random=False))
def test_a_generated_competition_loads_true_or_fails_naming_what_to_fix(kind, classes, offset, rows_per_class,
                                                                       encoding, separator, fault, seed, shuffle):
    values = LABEL_KINDS[kind](classes, offset)
    labels = [v for v in values for _ in range(rows_per_class)]
    shuffle.shuffle(labels)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "generated"
        write_competition(root, labels, encoding, separator, fault, seed)
        try:
            competition = load_competition(root)
        except DataError as exc:
            message = str(exc)
            assert fault != "none", f"a clean competition was refused: {message}"
            expected = {"missing_file": ("train.csv", "row 4", "Restore"),
                        "duplicate_content": ("train.csv", "identical bytes", "row 2", "row 5"),
                        "unknown_key": ("competition.json", "'lable_column'", "did you mean 'label_column'"),
                        "wrong_type": ("competition.json", "'allow_outside_links'"),
                        "empty_label": ("train.csv", "row(s) 3", "give every row its label"),
                        "repeated_column": ("train.csv", "['label'] more than once")}[fault]
            for part in expected:
                assert part in message, f"{fault}: {part!r} not in {message!r}"
            return
        assert fault == "none", f"{fault} was not noticed"
        got = [competition.task.class_names[i] for i in competition.train["label"]]
        assert got == [canonical(v) for v in labels]
        assert competition.empty_classes == []
        assert competition.task.num_classes == classes
