"""competition.json, validated against a declared schema (pydantic) when a competition is loaded.

Every key is optional. An unknown key is an error naming the closest known one (a typo such as
"group_col" must not silently leave every row its own group); values are checked for type
(a boolean is true or false, never the string "false") and range (the metric against the metric
registry); paths stay inside the competition root. Descriptive keys that loading does not use
(a source, a seed, a checksum) are accepted as they are, for provenance.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ..errors import DataError, closest
from ..registry import METRICS

# kept for provenance, never read by the loaders (the built-ins record these)
DESCRIPTIVE_KEYS = (
    "source",
    "description",
    "seed",
    "size",
    "people",
    "item_class",
    "sha256",
    "class_counts",
    "imbalance_ratio",
    "original_train_index",
)


class CompetitionConfig(BaseModel):
    """The keys of competition.json; see the README's "Your own competition"."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str | None = None
    format: Literal["csv", "mask", "folder"] | None = None
    classes: list[str] | None = Field(default=None, min_length=1)
    min_class_rows: int = Field(default=2, ge=1)
    metric: str = "macro_f1"
    path_column: str = "path"
    label_column: str = "label"
    label_columns: list[str] | None = Field(default=None, min_length=2)  # one-hot: a column per class, 1 for its class
    group_column: str | None = None  # None: the column "group" when train.csv has one, else no groups
    id_column: str = "ImageID"
    answer_column: str = "ans"
    train_csv: str = "train/train.csv"  # the labels table (csv and mask formats), from the root
    image_root: str = "."  # where the labels table's paths start, from its folder
    eval_csv: str = "eval/info.csv"  # the submission template: the eval ids, from the root
    eval_images: str | None = None  # the eval images' folder, from the root; None: eval/images/, else eval/
    submission_labels: Literal["name", "index"] | None = None
    submission: Literal["labels", "probability", "class_columns"] | None = None  # None: from the metric and template
    answers: str | None = None
    allow_outside_links: bool = False
    encoding: str | None = None  # None: UTF-8 (with or without a BOM), else CP949/EUC-KR when it decodes
    separator: str | None = None  # None: sniffed from the header (',', ';', tab or '|')
    on_missing: Literal["error", "skip"] = "error"
    about: dict[str, Any] | None = None  # free-form notes of your own
    # descriptive keys (see DESCRIPTIVE_KEYS): any value
    source: Any = None
    description: Any = None
    seed: Any = None
    size: Any = None
    people: Any = None
    item_class: Any = None
    sha256: Any = None
    class_counts: Any = None
    imbalance_ratio: Any = None
    original_train_index: Any = None

    @field_validator("metric")
    @classmethod
    def known_metric(cls, value: str) -> str:
        if value not in METRICS:
            close = closest(value, METRICS.names())
            hint = f"; did you mean {close!r}?" if close else ""
            raise ValueError(f"unknown metric {value!r}{hint} Known metrics: {METRICS.names()}")
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def numbers_as_names(cls, value):
        """Whole numbers in the list ([0, 1, 2]) name their classes as the strings they read as."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("classes")
    @classmethod
    def distinct_classes(cls, value):
        if value is None:
            return value
        names = [str(v).strip() for v in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated or any(not n for n in names):
            raise ValueError(f"classes must be distinct, non-empty names; repeated: {repeated}")
        return names

    @field_validator("answers", "train_csv", "eval_csv", "eval_images")
    @classmethod
    def relative_path(cls, value):
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError(f"{value!r} is absolute or climbs out with '..'; give a path inside the competition")
        return value

    @field_validator("image_root")
    @classmethod
    def inside_from_the_table(cls, value, info: ValidationInfo):
        """image_root is read from the labels table's folder (train/ by default, so '..' is the competition
        root: CSV paths such as 'train/images/x.png', written from the root as Kaggle's often are); above the
        root is refused."""
        folder = posixpath.dirname(Path(info.data.get("train_csv") or "train/train.csv").as_posix()) or "."
        climbs = posixpath.normpath(posixpath.join(folder, Path(value).as_posix()))
        if Path(value).is_absolute() or climbs == ".." or climbs.startswith("../"):
            raise ValueError(
                f"{value!r} is absolute or climbs out of the competition (it is read from "
                f"{folder + '/' if folder != '.' else 'the root'}, the labels table's folder); give a path inside "
                "the competition"
            )
        return value

    @field_validator("separator")
    @classmethod
    def one_character(cls, value):
        if value is not None and len(value) != 1:
            raise ValueError(f"{value!r}: give one character, e.g. ';'")
        return value

    @property
    def allow_links(self) -> bool:
        return self.allow_outside_links


def closest_key(key: str) -> str:
    known = list(CompetitionConfig.model_fields)
    close = closest(key, known, cutoff=0.5)
    return f"did you mean {close!r}?" if close else f"known keys: {', '.join(known)}"


def describe_error(error) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key {where!r}; {closest_key(str(error['loc'][0]))}"
    given = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    return f"key {where!r} = {given!r} ({type(given).__name__}): {message}"


def parse_config(data: Any, path: Path) -> CompetitionConfig:
    """A competition.json's parsed content -> CompetitionConfig; every problem at once, naming the file."""
    if not isinstance(data, dict):
        raise DataError(
            f'{path}: expected a JSON object ({{"key": value, ...}}), found {type(data).__name__}; '
            "every key is optional, so {} is a valid file"
        )
    try:
        return CompetitionConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(describe_error(e) for e in exc.errors())
        raise DataError(f"{path}: {problems}. Fix competition.json (the README lists every key)") from None


def read_config(root: Path) -> CompetitionConfig:
    """The competition's config: competition.json validated, or every default when there is none."""
    path = root / "competition.json"
    if not path.exists():
        return CompetitionConfig()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); save it as UTF-8 JSON") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty; write {{}} for every default, or remove the file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return parse_config(data, path)
