"""The Task (what is predicted and how it is scored) and a loaded Competition."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

CANONICAL_COLUMNS = ["image_id", "path", "label", "group"]
UNLABELED = -1  # label of eval rows: answers are never in the canonical table


@dataclass(frozen=True)
class Task:
    class_names: tuple[str, ...]
    metric: str = "macro_f1"
    id_column: str = "ImageID"
    answer_column: str = "ans"
    label_space: str = "index"   # what submissions and answers hold: "index" (0..C-1) or "name" (class names)

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
    meta: dict = field(default_factory=dict)

    @property
    def answers_path(self) -> Path:
        """Where eval answers live, apart from the training data: competition.json's "answers" (for a
        finished competition, or one's own split), else answers/eval_answers.csv (the built-ins)."""
        return self.root / self.meta.get("answers", "answers/eval_answers.csv")

    def has_answers(self) -> bool:
        return self.answers_path.exists()

    def __repr__(self) -> str:
        return (f"Competition({self.name!r}, format={self.format!r}, train={len(self.train)}, "
                f"eval={len(self.eval)}, classes={self.task.num_classes})")


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)
