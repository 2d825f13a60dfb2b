"""The Task (what is predicted and how it is scored) and a loaded Competition."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import composed
from ..metrics import reads_probabilities

CANONICAL_COLUMNS = ["image_id", "path", "label", "group"]
UNLABELED = -1  # label of eval rows: answers are never in the canonical table


@dataclass(frozen=True)
class Task:
    class_names: tuple[str, ...]
    metric: str = "macro_f1"
    id_column: str = "ImageID"
    answer_column: str = "ans"
    label_space: str = "index"  # what submissions and answers hold: "index" (0..C-1) or "name" (class names)

    def encode(self, value) -> int | None:
        """A submitted or answered label in this task's label space -> its class index, or None."""
        text = str(value).strip()
        if self.label_space == "name":
            return self.class_names.index(text) if text in self.class_names else None
        return int(text) if text.isdigit() and int(text) < self.num_classes else None

    def decode(self, index: int):
        return self.class_names[int(index)] if self.label_space == "name" else int(index)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> dict:
        return {**asdict(self), "class_names": list(self.class_names)}

    @classmethod
    def from_json(cls, data: dict) -> "Task":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["class_names"] = tuple(known["class_names"])
        return cls(**known)


@dataclass
class Competition:
    """A competition directory turned into canonical tables.

    `train` and `eval` have columns image_id, path (absolute), label (int,
    -1 on eval), group (str) plus any metadata columns.
    """

    name: str
    root: Path
    task: Task
    train: pd.DataFrame
    eval: pd.DataFrame
    format: str = "csv"
    meta: dict = field(default_factory=dict)  # competition.json's keys that differ from the defaults
    skipped: list[dict] = field(default_factory=list)  # train rows left out ("on_missing": "skip"): row, id, path
    template: pd.DataFrame | None = None  # eval/info.csv as read, when there is one
    inferred: dict = field(default_factory=dict)  # the keys a Kaggle download's layout set (formats.kaggle_layout)

    @property
    def empty_classes(self) -> list[str]:
        """Classes of the task that no train row has."""
        present = set(self.train["label"].astype(int))
        return [name for i, name in enumerate(self.task.class_names) if i not in present]

    def eval_copies_of_train(self) -> list[tuple[str, str]]:
        """(eval id, train id) of each eval image whose file has the same bytes as a train image's: a model
        trains on those, so its eval score there is not held out."""
        train = {file_digest(path): image_id for path, image_id in zip(self.train["path"], self.train["image_id"])}
        pairs = (
            (train.get(file_digest(path)), image_id) for path, image_id in zip(self.eval["path"], self.eval["image_id"])
        )
        return [(str(eval_id), str(train_id)) for train_id, eval_id in pairs if train_id is not None]

    def input_files(self) -> set[Path]:
        """Every file the competition is read from, resolved: its CSVs, competition.json, the answers and
        every train and eval image (what `submit --out` must never replace)."""
        tables = (self.meta.get("train_csv", "train/train.csv"), self.template_name, "competition.json")
        files = [self.root / name for name in tables] + [self.answers_path]
        return {Path(os.path.realpath(p)) for p in [*files, *self.train["path"], *self.eval["path"]]}

    def class_counts(self) -> pd.Series:
        counts = self.train["label"].value_counts().reindex(range(self.task.num_classes), fill_value=0)
        return counts.set_axis(list(self.task.class_names))

    @cached_property
    def content_digest(self) -> str:
        """The competition's content: every train and eval file's bytes, the labels and groups, the eval ids
        and the task. A result trained on other content is refused by `submit`; where the folder lies is
        not part of it."""
        digest = hashlib.sha256(json.dumps(self.task.to_json(), sort_keys=True).encode())
        for split in (self.train, self.eval):
            digest.update(
                pd.util.hash_pandas_object(split[["image_id", "label", "group"]].astype(str), index=False)
                .to_numpy()
                .tobytes()
            )
            for path in split["path"]:
                digest.update(file_digest(path).encode())
        return digest.hexdigest()[:24]

    @property
    def template_name(self) -> str:
        """The submission template's path from the root, as competition.json (or a Kaggle layout) names it."""
        return str(self.meta.get("eval_csv", "eval/info.csv"))

    @property
    def ids_source(self) -> str:
        """Where the eval ids come from, for a message: the template, or the eval folder's images."""
        return self.template_name if self.template is not None else "the eval folder"

    def eval_template(self) -> pd.DataFrame:
        """The submission template: eval/info.csv as read (with its answer column), or, for an eval folder
        without one, its ids and an empty answer column."""
        if self.template is not None:
            return self.template.copy()
        return pd.DataFrame({self.task.id_column: self.eval["image_id"].to_numpy(), self.task.answer_column: ""})

    @cached_property  # validating a submission asks it several times; the metric's probe runs once
    def submission_form(self) -> str:
        """What a submission answers each id with: "labels" (its class), "probability" (a two-class task's
        probability of its second class, in the answer column) or "class_columns" (a probability per class, in
        the template's columns named after the classes). competition.json's "submission" chooses; else a
        template with a column per class is answered in them, and a two-class task whose metric reads
        probabilities (ROC-AUC, log loss) with the probability: a grader's copy of the metric scores what the
        file holds, and labels in place of probabilities lose what the harness's own score counted."""
        chosen = self.meta.get("submission")
        if chosen:
            return str(chosen)
        if set(self.task.class_names) <= set(self.eval_template().columns):
            return "class_columns"
        if self.task.num_classes == 2 and reads_probabilities(self.task.metric):
            return "probability"
        return "labels"

    @property
    def answers_path(self) -> Path:
        """Where eval answers live, apart from the training data: competition.json's "answers" (for a
        finished competition, or one's own split), else answers/eval_answers.csv (the built-ins)."""
        return self.root / self.meta.get("answers", "answers/eval_answers.csv")

    def has_answers(self) -> bool:
        return self.answers_path.exists() or self.folder_answers() is not None

    def folder_answers(self) -> np.ndarray | None:
        """The eval answers an ImageFolder layout holds (eval/<class>/<image>, as torchvision's val/ folders
        are): each eval image's class folder, when every one lies in a folder named after a class and no
        answers file is named. Without it, such a competition's eval split was predicted and never scored."""
        if self.format != "folder" or "answers" in self.meta or not len(self.eval):
            return None
        parts = [Path(str(image_id)).parts for image_id in self.eval["image_id"]]
        folders = [composed(found[0]) if len(found) > 1 else None for found in parts]
        if not all(folder in self.task.class_names for folder in folders):
            return None
        return np.array([self.task.class_names.index(str(folder)) for folder in folders])

    def __repr__(self) -> str:
        return (
            f"Competition({self.name!r}, format={self.format!r}, train={len(self.train)}, "
            f"eval={len(self.eval)}, classes={self.task.num_classes})"
        )


DIGESTS: dict[tuple, str] = {}  # (path, size, mtime) -> digest of the file's bytes, in this process


def file_digest(path: str | Path) -> str:
    """blake2b of a file's bytes, memoised while the file's size and mtime stay the same."""
    stat = os.stat(path)
    token = (str(path), stat.st_size, stat.st_mtime_ns)
    if token not in DIGESTS:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        DIGESTS[token] = digest.hexdigest()
    return DIGESTS[token]
