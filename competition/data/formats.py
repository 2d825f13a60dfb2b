"""Format adapters: a competition directory -> canonical tables + Task.

Layout (AI Stages style)::

    <root>/train/images/...     image files (any nesting)
    <root>/train/train.csv      one row per image (csv) or per person (mask); csv paths are
                            relative to the CSV's folder ("images/a/x.jpg"), or to "image_root"
                            (itself relative to that folder) in competition.json
    <root>/eval/images/...
    <root>/eval/info.csv        ImageID, ans   (the submission template)
    <root>/competition.json     optional: format, classes, metric, column names

Adapters: ``csv`` (a path and a label column), ``mask`` (AI Stages mask
format), ``folder`` (one folder per class).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .task import UNLABELED, Competition, Task, read_json

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
EXPECTED_LAYOUT = (
    "expected <root>/train/train.csv and <root>/train/images/ (csv or mask format), "
    "or <root>/train/images/<class>/... (folder format), plus optional "
    "<root>/eval/info.csv and <root>/eval/images/"
)

# --- mask format constants -------------------------------------------------
MASK_STEMS = {"mask1": 0, "mask2": 0, "mask3": 0, "mask4": 0, "mask5": 0,
              "incorrect_mask": 1, "normal": 2}
MASK_NAMES = ("wear", "incorrect", "not_wear")
GENDERS = {"male": 0, "female": 1}
AGE_NAMES = ("<30", "30-59", ">=60")


def age_band(age: int) -> int:
    return 0 if age < 30 else (1 if age < 60 else 2)


def mask_class(mask: int, gender: int, age: int) -> int:
    """The AI Stages class: 6*mask + 3*gender + age band."""
    return 6 * mask + 3 * gender + age_band(age)


MASK_CLASS_NAMES = tuple(f"{m}/{g}/{a}" for m in MASK_NAMES for g in GENDERS for a in AGE_NAMES)


# --- helpers ----------------------------------------------------------------
def read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found; {EXPECTED_LAYOUT}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc}); fix or re-export the file") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {missing}; found columns {list(df.columns)}. "
            "Rename the columns or set path_column/label_column in competition.json")
    if df.empty:
        raise DataError(f"{path}: the split is empty (no data rows); add rows or point at the right file")
    return df


def csv_row(i: int) -> int:
    """Line number in the CSV file of data row i (header is line 1)."""
    return i + 2


def check_files_exist(df: pd.DataFrame, source: Path, values: pd.Series | None = None, base: Path | None = None,
                      setting: str = "image_root") -> None:
    """Every row's file exists; the error says where it looked, the CSV's value, and the setting that
    moves the base (and whether the file is under the usual images/ folder instead)."""
    exists = np.fromiter((Path(p).is_file() for p in df["path"]), dtype=bool, count=len(df))
    if not exists.all():
        bad = np.flatnonzero(~exists)
        first = int(bad[0])
        where = f"looked for {df['path'].iat[first]}"
        if values is not None and base is not None:
            value = str(values.iat[first])
            where = (f"its value is {value!r}, looked for {df['path'].iat[first]} (relative to {base}; "
                     f"\"{setting}\" in competition.json sets that base")
            if (base / "images" / value).is_file():
                where += f", and the file is at {base / 'images' / value}: set \"{setting}\": \"images\""
            where += ")"
        raise DataError(f"{source}: image file not found for row {csv_row(first)}: {where}; {len(bad)} missing in "
                        "all. Restore the file(s), fix the paths, or remove the row(s)")


def check_inside(df: pd.DataFrame, values: pd.Series, root: Path, source: Path, allow_links: bool = False,
                 rows: list[int] | None = None) -> None:
    """Every path that comes from data stays inside the competition root.

    A value that is absolute or climbs with '..' is refused; so is a symlink that
    resolves outside the root, unless competition.json sets "allow_outside_links": true."""
    root = root.resolve()
    for i, (value, path) in enumerate(zip(values.astype(str), df["path"])):
        parts = Path(value).parts
        row = rows[i] if rows is not None else csv_row(i)
        if Path(value).is_absolute() or ".." in parts:
            raise DataError(f"{source}: row {row} has path {value!r}, which is absolute or climbs out with '..'; "
                            f"paths must stay inside the competition root {root}")
        if not allow_links and not Path(os.path.realpath(path)).is_relative_to(root):
            raise DataError(f"{source}: row {row} path {value!r} resolves to {os.path.realpath(path)}, outside the "
                            f"competition root {root} (a symlink); copy the file in, or set "
                            '"allow_outside_links": true in competition.json')


def check_rare_classes(values: pd.Series, source: Path, column: str, min_rows: int) -> None:
    """Without a classes list, a label seen in fewer than min_rows rows is more likely a typo than a class."""
    counts = values.value_counts()
    rare = counts[counts < min_rows]
    if len(rare):
        label, rows = rare.index[0], [csv_row(i) for i in np.flatnonzero(values.to_numpy() == rare.index[0])]
        raise DataError(f"{source}: column {column!r} has label {label!r} in only {rare.iloc[0]} row(s) "
                        f"({', '.join(map(str, rows[:5]))}), fewer than {min_rows}; {len(rare)} such label(s) in "
                        "all. Correct the row(s), or list every class in competition.json (\"classes\": [...]) "
                        "to accept a rare class (\"min_class_rows\" sets the threshold)")


def encode_labels(values: pd.Series, class_names: tuple[str, ...] | None, source: Path, column: str,
                  min_rows: int = 2) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Labels may be class indices or class names; returns ints, the class names and the label space
    the CSV used ("index" or "name"), which submissions then use too."""
    values = values.astype(str).str.strip()
    numbered = class_names is None or tuple(class_names) == tuple(str(i) for i in range(len(class_names)))
    names_used = class_names is not None and values.isin(class_names).all()
    space = "index" if values.str.fullmatch(r"\d+").all() and (numbered or not names_used) else "name"
    if class_names is None:
        check_rare_classes(values, source, column, min_rows)
        if space == "index":
            ints = values.astype(int)
            class_names = tuple(str(i) for i in range(int(ints.max()) + 1))
        else:
            class_names = tuple(sorted(values.unique()))
    lookup = {name: i for i, name in enumerate(class_names)}
    labels = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v in lookup:
            labels[i] = lookup[v]
        elif v.lstrip("-").isdigit() and 0 <= int(v) < len(class_names):
            labels[i] = int(v)
        else:
            raise DataError(
                f"{source}: row {csv_row(i)} column {column!r} has label {v!r}, which is neither a "
                f"class index in [0, {len(class_names) - 1}] nor a class name in {list(class_names)}; "
                "fix the row or the classes list in competition.json")
    return labels, class_names, space


def read_eval(root: Path, task: Task, allow_links: bool = False) -> pd.DataFrame:
    info = root / "eval" / "info.csv"
    if not info.exists():
        return pd.DataFrame(columns=["image_id", "path", "label", "group"])
    df = read_csv(info, [task.id_column])
    images = root / "eval" / "images"
    out = pd.DataFrame({
        "image_id": df[task.id_column].astype(str),
        "path": [str(images / i) for i in df[task.id_column]],
        "label": UNLABELED,
        "group": df[task.id_column].astype(str),
    })
    duplicated = out["image_id"].duplicated()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise DataError(f"{info}: row {csv_row(i)} repeats ImageID {out['image_id'].iat[i]!r}; ids must be unique")
    check_inside(out, out["image_id"], root, info, allow_links)
    check_files_exist(out, info)
    return out


# --- adapters ---------------------------------------------------------------
def load_csv_format(root: Path, config: dict) -> tuple[pd.DataFrame, Task]:
    path_col = config.get("path_column", "path")
    label_col = config.get("label_column", "label")
    group_col = config.get("group_column", "group")
    source = root / "train" / "train.csv"
    df = read_csv(source, [path_col, label_col])
    classes = tuple(config["classes"]) if "classes" in config else None
    labels, classes, space = encode_labels(df[label_col], classes, source, label_col,
                                           int(config.get("min_class_rows", 2)))
    images = source.parent / config.get("image_root", ".")  # paths are relative to the CSV's folder
    id_col = "image_id" if "image_id" in df.columns else path_col
    table = pd.DataFrame({
        "image_id": df[id_col].astype(str),
        "path": [str(images / p) for p in df[path_col]],
        "label": labels,
        "group": df[group_col].astype(str) if group_col in df.columns else df[id_col].astype(str),
    })
    extra = [c for c in df.columns if c not in {path_col, label_col, group_col, "image_id"}]
    table = pd.concat([table, df[extra].reset_index(drop=True)], axis=1)
    check_inside(table, df[path_col], root, source, config.get("allow_outside_links", False))
    check_files_exist(table, source, df[path_col], images)
    return table, make_task(classes, config, space)


def find_mask_images(person_dir: Path, source: Path, row: int) -> dict[str, Path]:
    if not person_dir.is_dir():
        raise DataError(f"{source}: row {row} names folder {person_dir}, which does not exist; "
                        "restore the folder or remove the row")
    found = {p.stem: p for p in person_dir.iterdir()
             if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")}
    missing = [s for s in MASK_STEMS if s not in found]
    if missing:
        raise DataError(f"{person_dir}: image file(s) {missing} not found (row {row} of {source}); "
                        f"each person folder needs {list(MASK_STEMS)} with any image extension")
    return found


def load_mask_format(root: Path, config: dict) -> tuple[pd.DataFrame, Task]:
    source = root / "train" / "train.csv"
    people = read_csv(source, ["id", "gender", "race", "age", "path"])
    rows = []
    for i, person in enumerate(people.itertuples(index=False)):
        gender = GENDERS.get(person.gender.strip().lower())
        if gender is None:
            raise DataError(f"{source}: row {csv_row(i)} has gender {person.gender!r}; expected one of {list(GENDERS)}")
        try:
            age = int(float(person.age))
        except ValueError:
            age = -1
        if age < 0:
            raise DataError(f"{source}: row {csv_row(i)} has age {person.age!r}; expected a non-negative number")
        images = find_mask_images(root / "train" / "images" / person.path, source, csv_row(i))
        for stem, mask in MASK_STEMS.items():
            rows.append({"image_id": f"{person.path}/{stem}", "path": str(images[stem]),
                         "label": mask_class(mask, gender, age), "group": str(person.id),
                         "mask": mask, "gender": gender, "age": age, "race": person.race})
    table = pd.DataFrame(rows)
    check_inside(table, table["image_id"], root, source, config.get("allow_outside_links", False),
                 rows=[csv_row(i // len(MASK_STEMS)) for i in range(len(table))])
    return table, make_task(MASK_CLASS_NAMES, config)


def load_folder_format(root: Path, config: dict) -> tuple[pd.DataFrame, Task]:
    images = root / "train" / "images"
    class_dirs = sorted(d for d in images.iterdir() if d.is_dir())
    classes = tuple(config.get("classes", [d.name for d in class_dirs]))
    rows = []
    for d in class_dirs:
        if d.name not in classes:
            raise DataError(f"{d}: class folder not in the classes list {list(classes)} of competition.json")
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                rel = str(p.relative_to(images))
                rows.append({"image_id": rel, "path": str(p), "label": classes.index(d.name), "group": rel})
    if not rows:
        raise DataError(f"{images}: the split is empty (no image files under class folders)")
    table = pd.DataFrame(rows)
    check_inside(table, table["image_id"], root, images, config.get("allow_outside_links", False),
                 rows=list(range(1, len(table) + 1)))
    return table, make_task(classes, config, "name")  # folder names are the labels


ADAPTERS = {"csv": load_csv_format, "mask": load_mask_format, "folder": load_folder_format}


def make_task(classes: tuple[str, ...], config: dict, space: str = "index") -> Task:
    space = config.get("submission_labels", space)
    if space not in ("index", "name"):
        raise DataError(f"competition.json: submission_labels={space!r}; use 'index' or 'name'")
    return Task(class_names=tuple(classes), metric=config.get("metric", "macro_f1"),
                id_column=config.get("id_column", "ImageID"),
                answer_column=config.get("answer_column", "ans"), label_space=space)


def detect_format(root: Path) -> str:
    csv = root / "train" / "train.csv"
    if csv.exists():
        with csv.open() as handle:
            header = handle.readline().strip().split(",")
        return "mask" if {"id", "gender", "race", "age", "path"} <= set(header) else "csv"
    images = root / "train" / "images"
    if images.is_dir() and any(d.is_dir() for d in images.iterdir()):
        return "folder"
    found = sorted(p.name for p in root.iterdir()) if root.is_dir() else "nothing (no such directory)"
    raise DataError(f"{root}: not a competition directory; {EXPECTED_LAYOUT}. Found: {found}")


def load_competition(root: str | Path, format: str | None = None, name: str | None = None) -> Competition:
    """Read a competition directory into canonical tables and a Task."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataError(f"{root}: competition directory does not exist; "
                        "prepare a built-in one with `python -m competition data NAME` or pass a path")
    config = read_json(root / "competition.json") if (root / "competition.json").exists() else {}
    format = format or config.get("format") or detect_format(root)
    if format not in ADAPTERS:
        raise DataError(f"{root}: unknown format {format!r}; known formats: {sorted(ADAPTERS)}")
    train, task = ADAPTERS[format](root, config)
    return Competition(name=name or config.get("name", root.name), root=root, task=task,
                       train=train.reset_index(drop=True),
                       eval=read_eval(root, task, config.get("allow_outside_links", False)),
                       format=format, meta=config)
