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

import codecs
import csv
import io
import os
import posixpath
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import DataError, closest
from ..files import composed
from .config import CompetitionConfig, read_config
from .task import UNLABELED, Competition, Task, file_digest

# Extensions of the raster formats the decoders read (OpenCV, or PIL where it cannot). `.jfif` is how a browser on
# Windows saves a JPEG; netpbm's, AVIF, JPEG 2000 and QOI come from scientific and web pipelines.
IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".jif", ".mpo", ".bmp", ".dib", ".gif", ".webp", ".tif", ".tiff",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".qoi", ".avif", ".jp2", ".j2k",
}  # fmt: skip
# Still-image formats PIL names when it identifies a file by its content: an image under another extension (or
# none) is found by them. TGA has no signature to identify it by, so it is found by its extension alone.
STILL_IMAGE_FORMATS = {
    "JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "QOI", "AVIF", "JPEG2000", "ICO", "SGI", "PCX",
}  # fmt: skip
# Image formats neither decoder reads without a plug-in (phone photos, medical scans, camera raw, vector art).
UNREADABLE_IMAGE_EXTENSIONS = {
    ".heic", ".heif", ".hif", ".jxl", ".dcm", ".dicom", ".svg", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf",
    ".rw2", ".raf", ".raw",
}  # fmt: skip
EXPECTED_LAYOUT = (
    "expected <root>/train/train.csv and <root>/train/images/ (csv or mask format), "
    "or <root>/train/<class>/... or <root>/train/images/<class>/... (folder format), plus optional "
    "<root>/eval/info.csv and <root>/eval/images/ (or eval images alone), or a Kaggle download (the labels table "
    "and sample_submission.csv at the root, the images in train/ and test/ folders)"
    ' (the README\'s "Your own competition" shows each layout as a tree)'
)

# --- mask format constants -------------------------------------------------
MASK_STEMS = {"mask1": 0, "mask2": 0, "mask3": 0, "mask4": 0, "mask5": 0, "incorrect_mask": 1, "normal": 2}
MASK_NAMES = ("wear", "incorrect", "not_wear")
GENDERS = {"male": 0, "female": 1}
AGE_NAMES = ("<30", "30-59", ">=60")


def age_band(age: int) -> int:
    return 0 if age < 30 else (1 if age < 60 else 2)


def mask_class(mask: int, gender: int, age: int) -> int:
    """The AI Stages class: 6*mask + 3*gender + age band."""
    return 6 * mask + 3 * gender + age_band(age)


MASK_CLASS_NAMES = tuple(f"{m}/{g}/{a}" for m in MASK_NAMES for g in GENDERS for a in AGE_NAMES)


# --- reading CSV files as they come -----------------------------------------------
NULL_LABELS = {"", "nan", "none", "null", "na", "n/a", "<na>"}
FALLBACK_ENCODINGS = ("utf-8-sig", "cp949")  # UTF-8 with or without a BOM; Korean Excel's CP949 (a superset of EUC-KR)
SEPARATORS = (",", ";", "\t", "|")


# A byte-order mark names its encoding (Excel's "Unicode Text" export is UTF-16 with one). UTF-32's come first:
# UTF-32-LE's mark begins with UTF-16-LE's.
BOM_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
EXCEL_SEPARATOR_LINE = re.compile(r"\s*sep=(.)\s*$", re.IGNORECASE)


def decode_text(path: Path, encoding: str | None) -> str:
    raw = path.read_bytes()
    marked = next((name for bom, name in BOM_ENCODINGS if raw.startswith(bom)), None)
    if not encoding and not marked and b"\x00" in raw[:4096]:  # every other byte NUL: UTF-16 without its mark
        order = "utf-16-le" if raw[1:2] == b"\x00" else "utf-16-be"
        raise DataError(
            f"{path}: holds NUL bytes, as UTF-16 text without its byte-order mark does; name the encoding in "
            f'competition.json ("encoding": "{order}"), or re-save the file as UTF-8'
        )
    for candidate in (encoding,) if encoding else (marked,) if marked else FALLBACK_ENCODINGS:
        try:
            return raw.decode("utf-8-sig" if candidate.lower().replace("_", "-") in ("utf-8", "utf8") else candidate)
        except LookupError:
            raise DataError(
                f'{path}: unknown encoding {candidate!r} (competition.json "encoding"); use e.g. '
                "'utf-8', 'cp949' or 'euc-kr'"
            ) from None
        except UnicodeDecodeError as exc:
            last = exc
    tried = encoding or marked or " or ".join(FALLBACK_ENCODINGS)
    raise DataError(
        f"{path}: cannot be decoded as {tried} (byte {last.start}: {last.reason}); re-save it as UTF-8, "
        'or name its encoding with "encoding" in competition.json'
    )


def refuse_excel_separator_line(path: Path, text: str) -> None:
    """Excel writes 'sep=;' above the header of some exports: read as the header, it hid every column name, and
    read past, every row number in an error would be one line off."""
    first = text.splitlines()[0] if text.strip() else ""
    if match := EXCEL_SEPARATOR_LINE.match(first):
        raise DataError(
            f"{path}: line 1 is {first.strip()!r}, Excel's note of the separator, not the header; delete that line "
            f'(the separator is found from the header, or set "separator": "{match[1]}" in competition.json)'
        )


def sniff_separator(header: str) -> str:
    """The separator of a header line: the candidate it holds most often (',' when it holds none)."""
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def table_text(path: Path, config: CompetitionConfig) -> str:
    """A CSV's text, decoded, with Excel's separator line above the header refused."""
    text = decode_text(path, config.encoding)
    refuse_excel_separator_line(path, text)
    return text


def read_header(path: Path, config: CompetitionConfig) -> list[str]:
    text = table_text(path, config)
    first = text.splitlines()[0] if text.strip() else ""
    return [c.strip() for c in first.split(config.separator or sniff_separator(first))]


def paths_column_hint(df: pd.DataFrame, missing: list[str], config: CompetitionConfig) -> str:
    """When the paths column is missing and one column's values are image file names (an 'image' or 'file'
    column), the keys that would read it, with the one other column as the labels where that is all there is."""
    if config.path_column not in missing:
        return ""
    sample = df.head(50)
    paths = [c for c in df.columns if sample[c].str.lower().str.endswith(tuple(IMAGE_EXTENSIONS)).mean() > 0.8]
    if len(paths) != 1:
        return ""
    hint = f'; column {paths[0]!r} holds image file names: "path_column": "{paths[0]}"'
    others = [c for c in df.columns if c not in (paths[0], config.group_column, "group")]
    if config.label_column in missing and len(others) == 1:
        hint += f', "label_column": "{others[0]}"'
    return hint


def column_hint(missing: list[str], columns: list[str]) -> str:
    hints = []
    for name in missing:
        same = [c for c in columns if c.lower().strip() == name.lower().strip()]
        close = same[0] if same else closest(name, columns)
        if close:
            hints.append(f"{name!r} is written {close!r} in the file" if same else f"{name!r}: did you mean {close!r}?")
    return ("; " + "; ".join(hints)) if hints else ""


def read_csv(
    path: Path, required: list[str], config: CompetitionConfig | None = None, settings: str = "path_column/label_column"
) -> pd.DataFrame:
    """A CSV as strings exactly as written: UTF-8 (BOM or not) or CP949, any of , ; tab | as separator.
    `settings`: the competition.json keys that name the required columns, for the error that misses one."""
    config = config or CompetitionConfig()
    if not path.exists():
        raise DataError(f"{path}: file not found; {EXPECTED_LAYOUT}")
    text = table_text(path, config)
    header = text.splitlines()[0] if text.strip() else ""
    separator = config.separator or sniff_separator(header)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=separator)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).strip()}); fix or re-export the file") from None
    df.columns = [str(c).strip() for c in df.columns]
    refuse_repeated_columns(path, header, separator, required)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {missing}; found columns {list(df.columns)}"
            f"{column_hint(missing, list(df.columns))}{paths_column_hint(df, missing, config)}. Rename the "
            f"columns or set {settings} in competition.json"
        )
    if df.empty:
        raise DataError(f"{path}: the split is empty (no data rows); add rows or point at the right file")
    return df


def read_table(path: Path, required: list[str], meta: dict, settings: str) -> pd.DataFrame:
    """Another CSV of one's own competition (the eval answers) read as its labels table is: in the encoding and
    separator competition.json names (`meta`: its keys that differ from the defaults), else found."""
    config = CompetitionConfig(**{key: meta[key] for key in ("encoding", "separator") if key in meta})
    return read_csv(path, required, config, settings)


def refuse_repeated_columns(path: Path, header: str, separator: str, required: list[str]) -> None:
    """A column the harness reads that the header names twice: pandas would read the first as it and rename the
    second ('label.1'), so which one holds the labels would be a guess."""
    names = [name.strip() for name in next(csv.reader([header], delimiter=separator), [])]
    repeated = sorted({name for name in required if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"{path}: the header names column(s) {repeated} more than once ({header.strip()!r}); "
            "rename or remove the extra column so that one column holds each"
        )


def csv_row(i: int | np.integer) -> int:
    """Line number in the CSV file of data row i (header is line 1)."""
    return int(i) + 2


def row_list(rows, limit: int = 5) -> str:
    rows = list(rows)
    return ", ".join(map(str, rows[:limit])) + (f" ... ({len(rows)} in all)" if len(rows) > limit else "")


def missing_files(paths: pd.Series) -> np.ndarray:
    return np.fromiter((not Path(p).is_file() for p in paths), dtype=bool, count=len(paths))


def check_files_exist(
    df: pd.DataFrame,
    source: Path,
    values: pd.Series | None = None,
    base: Path | None = None,
    setting: str = "image_root",
    why: str = "",
) -> None:
    """Every row's file exists; the error says where it looked, the CSV's value, and the setting that
    moves the base (and whether the file is under the usual images/ folder instead)."""
    absent = missing_files(df["path"])
    if absent.any():
        bad = np.flatnonzero(absent)
        first = int(bad[0])
        where = f"looked for {df['path'].iat[first]}"
        if values is not None and base is not None:
            value = str(values.iat[first])
            where = (
                f"its value is {value!r}, looked for {df['path'].iat[first]} (relative to {base}; "
                f'"{setting}" in competition.json sets that base'
            )
            for fix in ("images", ".."):  # the usual folder, or paths written from the competition root
                if (base / fix / value).is_file():
                    found = Path(os.path.normpath(base / fix / value))
                    where += f', and the file is at {found}: set "{setting}": "{fix}"'
                    break
            else:
                where += found_elsewhere(base.parent, Path(value).name)
            where += ")"
            if URL.match(value):
                where += "; it is a URL: the harness reads images from disk, so download them into the competition"
        where += same_stem_hint(Path(df["path"].iat[first]))
        raise DataError(
            f"{source}: image file not found for row {csv_row(first)}: {where}; {len(bad)} missing in "
            f"all (rows {row_list(csv_row(i) for i in bad)}). Restore the file(s), fix the paths, or "
            f"remove the row(s){why}"
        )


URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def found_elsewhere(root: Path, name: str, limit: int = 200_000) -> str:
    """', and a file of that name is at <path>' for the first one under `root` (a class subfolder the paths
    leave out, say), looking at `limit` names at most; '' when there is none."""
    seen = 0
    for folder, _, files in os.walk(root):
        if name in files:
            return f", and a file of that name is at {Path(folder) / name}"
        seen += len(files)
        if seen > limit:
            break
    return ""


def same_stem_hint(path: Path) -> str:
    """When the file is missing but one of the same name in another case (a CSV written on Windows or macOS,
    whose file systems ignore case), with another extension, or with none, is there."""
    if path.is_dir():
        return f"; {path} is a folder, not an image file"
    absent = first_absent_part(path)
    folder = absent.parent
    other_case = sorted(p.name for p in folder.iterdir() if p.name.casefold() == absent.name.casefold())
    if other_case:
        return f"; {folder} has {other_case[:3]} (names differ in case here)"
    if absent != path:  # a folder on the way is not there
        return ""
    others = sorted(p.name for p in folder.glob(f"{glob_escape(path.stem)}.*") if p.name != path.name)
    if path.suffix == "" and not others:  # an id written without its extension
        others = sorted(p.name for p in folder.glob(f"{glob_escape(path.name)}.*"))
    return f"; {folder} has {others[:3]} (another extension?)" if others else ""


def first_absent_part(path: Path) -> Path:
    """The shortest leading part of `path` that does not exist (`path` itself when only its last name is absent)."""
    for part in reversed(path.parents):
        if not part.exists():
            return part
    return path


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def clean_path(value: str) -> str:
    """A path as a CSV may write it: surrounding spaces and Windows separators are not part of it."""
    return value.strip().replace("\\", "/")


def as_on_disk(paths: list[str]) -> list[str]:
    """Each path as the file system spells it.

    A path that is there is kept as written. One that is not is looked up name by name under the composed
    form of each name (a folder unzipped from a Mac holds decomposed names), and a last name without its
    image extension (Kaggle's ids: 'abc' for train/abc.png) finds the one image file named so plus an
    extension. A path with no single such file is kept as written, for the missing-file check to name."""
    listings: dict[Path, tuple[dict[str, list[str]], dict[str, list[str]]]] = {}

    def listing(folder: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """A folder's entries by composed name, and its image files by composed stem."""
        if folder not in listings:
            by_name: dict[str, list[str]] = {}
            by_stem: dict[str, list[str]] = {}
            for entry in folder.iterdir():
                by_name.setdefault(composed(entry.name), []).append(entry.name)
                if entry.suffix.lower() in IMAGE_EXTENSIONS:
                    by_stem.setdefault(composed(entry.stem), []).append(entry.name)
            listings[folder] = by_name, by_stem
        return listings[folder]

    def resolve(value: str) -> str:
        path = Path(value)
        if path.is_file():
            return value
        found = Path(path.anchor) if path.anchor else Path(".")
        parts = path.parts[1:] if path.anchor else path.parts
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if (found / part).is_file() if last else (found / part).is_dir():
                found = found / part
                continue
            if not found.is_dir():
                return value
            by_name, by_stem = listing(found)
            matches = by_name.get(composed(part), [])
            if not matches and last and Path(part).suffix.lower() not in IMAGE_EXTENSIONS:
                matches = by_stem.get(composed(part), [])
            if len(matches) != 1:
                return value
            found = found / matches[0]
        return str(found)

    return [resolve(value) for value in paths]


def check_inside(
    df: pd.DataFrame,
    values: pd.Series,
    root: Path,
    source: Path,
    allow_links: bool = False,
    rows: list[int] | None = None,
    base: Path | None = None,
) -> None:
    """Every path that comes from data stays inside the competition root.

    A value that is absolute or climbs with '..' is refused; so is a symlink that
    resolves outside the root, unless competition.json sets "allow_outside_links": true.
    `base` is where the paths are read from: an absolute path whose end names a file there is named."""
    root = root.resolve()
    for i, (value, path) in enumerate(zip(values.astype(str), df["path"])):
        parts = Path(value).parts
        row = rows[i] if rows is not None else csv_row(i)
        if Path(value).is_absolute() or ".." in parts:
            raise DataError(
                f"{source}: row {row} has path {value!r}, which is absolute or climbs out with '..'; "
                f"paths must stay inside the competition root {root}" + where_it_is(value, base)
            )
        if not allow_links and not Path(os.path.realpath(path)).is_relative_to(root):
            raise DataError(
                f"{source}: row {row} path {value!r} resolves to {os.path.realpath(path)}, outside the "
                f"competition root {root} (a symlink); copy the file in, or set "
                '"allow_outside_links": true in competition.json'
            )


def where_it_is(value: str, base: Path | None) -> str:
    """For an absolute path written on another machine (a notebook's /kaggle/input/<competition>/train/x.png):
    the shortest end of it that names a file under `base`, and what to write instead."""
    parts = Path(value).parts
    if base is None or not Path(value).is_absolute():
        return ""
    for start in range(len(parts) - 1, 0, -1):
        candidate = Path(*parts[start:])
        if (base / candidate).is_file():
            prefix = Path(*parts[:start]).as_posix()
            return (
                f". The file is here as {candidate.as_posix()!r}, read from {base}: write the paths from there "
                f"(without {prefix + '/'!r})"
            )
    return ""


def check_rare_classes(values: pd.Series, source: Path, column: str, min_rows: int) -> None:
    """Without a classes list, a label seen in fewer than min_rows rows is more likely a typo than a class."""
    counts = values.value_counts()
    rare = counts[counts < min_rows]
    if len(rare):
        label, rows = rare.index[0], [csv_row(i) for i in np.flatnonzero(values.to_numpy() == rare.index[0])]
        raise DataError(
            f"{source}: column {column!r} has label {label!r} in only {rare.iloc[0]} row(s) "
            f"({', '.join(map(str, rows[:5]))}), fewer than {min_rows}; {len(rare)} such label(s) in "
            'all. Correct the row(s), or list every class in competition.json ("classes": [...]) '
            'to accept a rare class ("min_class_rows" sets the threshold)'
        )


# --- labels as they are written -------------------------------------------------------
NUMBER = r"[-+]?\d+(\.\d*)?"


def label_key(value: str) -> str:
    """What two spellings of one label share: case, surrounding or repeated spaces, '1' vs '1.0', and Unicode's
    composed and decomposed forms (a label pasted from a Mac's file name) fold away."""
    folded = composed(" ".join(value.split()).casefold())
    if re.fullmatch(NUMBER, folded) and float(folded).is_integer():
        return str(int(float(folded)))
    return folded


LABEL_LIST_SEPARATORS = r"[\s,;|]+"


def check_single_labels(values: pd.Series, source: Path, column: str) -> None:
    """A label that is a list of labels ('0 1', 'cat|dog') means a multi-label task, which a softmax
    classifier would silently learn as extra classes named by the combinations."""
    distinct = set(values.unique())
    for value in sorted(distinct):
        tokens = [t for t in re.split(LABEL_LIST_SEPARATORS, value.strip()) if t]
        if len(tokens) > 1 and all(t in distinct or re.fullmatch(r"\d+", t) for t in tokens):
            rows = [csv_row(i) for i in np.flatnonzero(values.to_numpy() == value)]
            raise DataError(
                f"{source}: column {column!r} has label {value!r} in row(s) {row_list(rows, 3)}, a list "
                "of labels: a multi-label task, which this harness does not train (one class per "
                'image). Keep one label per row, or list the classes in competition.json ("classes") '
                "if such combinations really are classes of their own"
            )


def check_label_spellings(values: pd.Series, source: Path, column: str) -> None:
    """Refuse empty or null labels, and one label written two ways ('Cat' and 'cat', '1' and '1.0')."""
    null = values.str.strip().str.casefold().isin(NULL_LABELS)
    if null.any():
        rows = [csv_row(i) for i in np.flatnonzero(null)]
        raise DataError(
            f"{source}: column {column!r} is empty or null ({values[null].iat[0]!r}) in row(s) "
            f"{row_list(rows)}; give every row its label, or remove the row(s)"
        )
    spellings: dict[str, set[str]] = {}
    for value in values.unique():
        spellings.setdefault(label_key(value), set()).add(value)
    clashes = {key: sorted(found) for key, found in spellings.items() if len(found) > 1}
    if clashes:
        key, found = next(iter(sorted(clashes.items())))
        rows_of = {v: [csv_row(i) for i in np.flatnonzero(values.to_numpy() == v)] for v in found}
        shown = "; ".join(f"{v!r} in row(s) {row_list(r, 3)}" for v, r in rows_of.items())
        unicode = (
            " (they print alike: the same letters in Unicode's composed and decomposed forms, as a Mac writes "
            "file names; normalise the column to NFC)"
            if len({composed(v) for v in found}) < len(found)
            else ""
        )
        raise DataError(
            f"{source}: column {column!r} writes one label in {len(found)} ways ({shown}){unicode}; "
            f"{len(clashes)} such label(s) in all. Write each class one way (case, spaces and "
            "'1' vs '1.0' count as different classes otherwise)"
        )


def integer_labels(values: pd.Series) -> pd.Series | None:
    """Labels that are all whole numbers ('3', '3.0') as ints, else None."""
    if not values.str.fullmatch(NUMBER).all():
        return None
    numbers = values.astype(float)
    return numbers.astype(int) if (numbers == numbers.round()).all() else None


def encode_labels(
    values: pd.Series, class_names: tuple[str, ...] | None, source: Path, column: str, min_rows: int = 2
) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Labels -> (class indices, class names, label space).

    Without a classes list the classes are the distinct labels as written, numbers in numeric order: labels
    1..3 are three classes, never four; '01' or '+1' keep their spelling, which a submission must give
    back ('1.0', pandas' float column, is 1), and a declared '01' is that class, never index 1. The
    label space is "index" when the labels are exactly 0..C-1 as plain numbers, else "name": the
    labels as written. With a classes list, labels are its names as written, else (whole numbers) its
    names as plain numbers, else indices into it."""
    raw = values.astype(str)
    check_label_spellings(raw, source, column)
    written = raw.str.strip()
    ints = integer_labels(written)
    # '3', or '3.0' as pandas writes a float column; never '03' or '+3', spellings a competition may mean
    plain = ints is not None and bool((ints.astype(str) == written.str.replace(r"\.0*$", "", regex=True)).all())
    declared = class_names is not None
    if class_names is None:
        values = ints.astype(str) if ints is not None and plain else written
        check_single_labels(values, source, column)
        check_rare_classes(values, source, column, min_rows)
        if ints is not None:  # one spelling per number was checked above
            class_names = tuple(label for _, label in sorted(set(zip(ints.tolist(), values))))
        else:
            class_names = tuple(sorted(values.unique()))
        space = "index" if plain and class_names == tuple(str(i) for i in range(len(class_names))) else "name"
    else:
        numbered = tuple(class_names) == tuple(str(i) for i in range(len(class_names)))
        as_numbers = ints.astype(str) if ints is not None else written
        names_used = bool(written.isin(class_names).all()) or bool(as_numbers.isin(class_names).all())
        values = written if written.isin(class_names).all() else as_numbers
        space = "index" if ints is not None and (numbered or not names_used) else "name"
    lookup = {name: i for i, name in enumerate(class_names)}
    labels = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        index = int(v) if v.isdigit() and int(v) < len(class_names) else None
        if space == "index" and index is not None:
            labels[i] = index
        elif space == "name" and v in lookup:
            labels[i] = lookup[v]
        elif declared and index is not None:
            labels[i] = index  # a declared classes list may be addressed by index
        else:
            raise DataError(
                f"{source}: row {csv_row(i)} column {column!r} has label {v!r}, which is neither a "
                f"class index in [0, {len(class_names) - 1}] nor a class name in {list(class_names)}; "
                "fix the row or the classes list in competition.json"
            )
    return labels, class_names, space


# --- one image, one row, one label ------------------------------------------------------
def check_unique_paths(table: pd.DataFrame, source: Path, rows: list[int]) -> None:
    """The same file listed twice would land on both sides of a split (and with two labels, teach both)."""
    resolved = table["path"].map(os.path.realpath)
    repeated = resolved.duplicated(keep=False)
    if repeated.any():
        first = resolved[repeated].iat[0]
        at = np.flatnonzero(resolved.to_numpy() == first)
        labels = sorted({str(table["label"].iat[i]) for i in at})
        what = f"with {len(labels)} different labels" if len(labels) > 1 else "with the same label"
        raise DataError(
            f"{source}: file {first} is listed {len(at)} times ({what}), rows "
            f"{row_list(rows[i] for i in at)}; {int(repeated.sum())} rows repeat a file in all. "
            "Keep one row per image"
        )


def check_unique_content(table: pd.DataFrame, source: Path, rows: list[int] | None) -> None:
    """One image under two ids (the same bytes) would put one picture on both sides of a split. `rows`: the CSV's
    row numbers, or None where the files are the rows (the folder format)."""
    digests = pd.Series([file_digest(p) for p in table["path"]])
    groups_per_copy = (
        pd.DataFrame({"digest": digests, "group": table["group"].to_numpy()})
        .groupby("digest")["group"]
        .transform("nunique")
    )
    repeated = digests.duplicated(keep=False) & (groups_per_copy > 1).to_numpy()  # copies in one group stay together
    if repeated.any():
        first = digests[repeated].iat[0]
        at = np.flatnonzero(digests.to_numpy() == first)
        files = ", ".join(
            str(table["image_id"].iat[i]) if rows is None else f"row {rows[i]} ({table['image_id'].iat[i]})"
            for i in at[:3]
        )
        raise DataError(
            f"{source}: the same image (identical bytes) is listed under {len(at)} ids: {files}; "
            f"{int(repeated.sum())} rows share their content with another in all. Remove the "
            "copies, or give copies one group (group_column) so that splits keep them together"
        )


def check_groups(values: pd.Series, source: Path, column: str) -> None:
    empty = values.str.strip().str.casefold().isin(NULL_LABELS)
    if empty.any():
        rows = [csv_row(i) for i in np.flatnonzero(empty)]
        raise DataError(
            f"{source}: column {column!r} (the groups) is empty in row(s) {row_list(rows)}; empty "
            "values would make one large group. Fill them in (each row its own id if it has no group)"
        )


def is_archive_artefact(name: str) -> bool:
    """What an unzip or a file browser leaves beside the images: macOS's __MACOSX, hidden files and folders."""
    return name.startswith(".") or name == "__MACOSX"


def file_kind(path: Path) -> str:
    """ "image", "unreadable" (an image format the decoders cannot read) or "other" (not an image). By the
    extension, else by the content: a JPEG saved as .jfif, or with no extension, is an image, and a HEIC photo is
    one too once a PIL plug-in (pillow-heif) is registered to read it."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    try:
        with Image.open(path) as image:
            identified = image.format or ""
    except (OSError, SyntaxError, ValueError):  # PIL's UnidentifiedImageError is an OSError
        identified = ""
    if identified in STILL_IMAGE_FORMATS or (identified and suffix in UNREADABLE_IMAGE_EXTENSIONS):
        return "image"
    return "unreadable" if suffix in UNREADABLE_IMAGE_EXTENSIONS else "other"


def refuse_unreadable_images(folder: Path, unreadable: list[Path]) -> None:
    """Image files of a format the decoders cannot read were left out of training, and out of a submission's
    ids, without a word; they are named instead."""
    if unreadable:
        names = ", ".join(str(p.relative_to(folder)) for p in unreadable[:5])
        more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
        raise DataError(
            f"{folder}: {len(unreadable)} image file(s) in a format the decoders cannot read ({names}{more}); "
            "they would be left out without a word. Convert them to PNG or JPEG (HEIC: pillow-heif, or "
            "ImageMagick's `mogrify -format jpg *.heic`; DICOM: pydicom, as 16-bit PNG), or move them out"
        )


def image_files(folder: Path) -> list[Path]:
    """Every image file under `folder` (what an unzip leaves beside them aside), found as `file_kind` finds
    them; files that are no image (notes, a CSV) are passed over, an image the decoders cannot read is named."""
    found: list[Path] = []
    unreadable: list[Path] = []
    for p in sorted(folder.rglob("*")):
        if any(is_archive_artefact(part) for part in p.relative_to(folder).parts) or not p.is_file():
            continue
        kind = file_kind(p)
        if kind == "image":
            found.append(p)
        elif kind == "unreadable":
            unreadable.append(p)
    refuse_unreadable_images(folder, unreadable)
    return found


def eval_folder(root: Path, config: CompetitionConfig) -> Path:
    """Where eval images live: "eval_images", else eval/images/, or eval/ itself when it holds the images."""
    if config.eval_images is not None:
        return root / config.eval_images
    images = root / "eval" / "images"
    return images if images.is_dir() else root / "eval"


def read_eval(root: Path, task: Task, config: CompetitionConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The eval split: the template ("eval_csv", eval/info.csv; ImageIDs relative to the eval images' folder), or,
    without one, every image of the eval folder (ids are their relative paths). Eval rows are never skipped: a
    submission answers each."""
    info, images = root / config.eval_csv, eval_folder(root, config)
    for key in ("eval_csv", "eval_images"):
        named = getattr(config, key)
        if key in config.model_fields_set and not (root / named).exists():
            raise DataError(f'{root / "competition.json"}: "{key}" names {named!r}, and {root / named} does not exist')
    template = None
    if info.exists():
        template = read_csv(info, [task.id_column], config, settings="id_column")
        if task.answer_column not in template.columns and not set(task.class_names) <= set(template.columns):
            template[task.answer_column] = ""  # a template with a column per class is answered in those
        ids = template[task.id_column].astype(str).str.strip()
        template[task.id_column] = ids
        if (ids == "").any():
            empty = [csv_row(i) for i in np.flatnonzero(ids == "")]
            raise DataError(
                f"{info}: column {task.id_column!r} is empty in row(s) {row_list(empty)}; every row names the eval "
                "image it answers for: fill in the id, or remove the row"
            )
    elif images.is_dir():
        ids = pd.Series([str(p.relative_to(images)) for p in image_files(images)], dtype=str)
    else:
        return pd.DataFrame(columns=["image_id", "path", "label", "group"]), None
    out = pd.DataFrame(
        {
            "image_id": ids.to_numpy(),
            "path": eval_paths(root, images, [clean_path(i) for i in ids], info.parent),
            "label": UNLABELED,
            "group": ids.to_numpy(),
        }
    )
    duplicated = out["image_id"].duplicated()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise DataError(f"{info}: row {csv_row(i)} repeats ImageID {out['image_id'].iat[i]!r}; ids must be unique")
    check_inside(out, out["image_id"], root, info, config.allow_outside_links, base=images)
    check_files_exist(out, info, why=" (eval rows are never skipped: the submission must answer every id)")
    return out, template


def eval_paths(root: Path, images: Path, ids: list[str], template_folder: Path) -> list[str]:
    """The eval images the ids name: relative to the eval images' folder, or, where every id is written from
    the template's folder (eval/) or from the competition root instead (Kaggle's test.csv: 'test/abc.jpg'),
    from there; the ids are kept as written, for the submission answers them."""
    first = as_on_disk([str(images / i) for i in ids])
    if not missing_files(pd.Series(first, dtype=str)).any():
        return first
    for base in (template_folder, root):
        found = as_on_disk([str(base / i) for i in ids])
        if not missing_files(pd.Series(found, dtype=str)).any():
            return found
    return first


# --- adapters ---------------------------------------------------------------
def skip_missing(
    table: pd.DataFrame, source: Path, rows: list[int], config: CompetitionConfig, check
) -> tuple[pd.DataFrame, list[int], list[dict]]:
    """With "on_missing": "skip", rows whose image is missing are dropped and listed; otherwise `check` raises."""
    absent = missing_files(table["path"])
    if not absent.any() or config.on_missing == "error":
        check()
        return table, rows, []
    skipped = [
        {"row": rows[i], "image_id": table["image_id"].iat[i], "path": table["path"].iat[i]}
        for i in np.flatnonzero(absent)
    ]
    keep = np.flatnonzero(~absent)
    return table.iloc[keep].reset_index(drop=True), [rows[i] for i in keep], skipped


def one_hot_labels(df: pd.DataFrame, columns: list[str], source: Path) -> pd.Series:
    """The class of each row of a one-hot table (Plant Pathology's healthy,multiple_diseases,rust,scab): the name
    of the one column marked 1. A cell other than 0 or 1, or a row with no class or several (a multi-label task,
    which one softmax per image cannot learn), is an error naming the row."""
    values = df[columns].apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
    marks = values.where(values.isin([0, 1]))
    bad = marks.isna().any(axis=1).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: row {csv_row(i)} has {dict(df[columns].iloc[i])} in the one-hot label columns; each cell "
            f"must be 0 or 1 ({int(bad.sum())} such row(s) in all). Fix the cells, or name one label column "
            '("label_column") instead of "label_columns"'
        )
    counts = marks.sum(axis=1).to_numpy()
    if (counts != 1).any():
        i = int(np.flatnonzero(counts != 1)[0])
        what = "no class" if counts[i] == 0 else f"{int(counts[i])} classes (a multi-label task, which one softmax "
        what += "" if counts[i] == 0 else "per image cannot learn)"
        raise DataError(
            f"{source}: row {csv_row(i)} marks {what} in the one-hot label columns {columns}; each row marks "
            f"one ({int((counts != 1).sum())} row(s) do not). Fix the rows, or declare each combination as a class"
        )
    return marks.idxmax(axis=1).astype(str)


def load_csv_format(root: Path, config: CompetitionConfig) -> tuple[pd.DataFrame, Task, list[dict]]:
    path_col, label_col = config.path_column, config.label_column
    source = root / config.train_csv
    group_col = config.group_column or "group"
    label_cols = list(config.label_columns or [label_col])
    df = read_csv(
        source,
        [path_col, *label_cols] + ([group_col] if config.group_column else []),
        config,
        settings=f"path_column/{'label_columns' if config.label_columns else 'label_column'}"
        + ("/group_column" if config.group_column else ""),
    )
    classes = tuple(config.classes) if config.classes is not None else None
    if config.label_columns:  # one-hot: the column marked 1 is the row's class, in the columns' order
        written, column = one_hot_labels(df, config.label_columns, source), "label_columns"
        classes = classes or tuple(config.label_columns)
    else:
        written, column = df[label_col], label_col
    labels, classes, space = encode_labels(written, classes, source, column, config.min_class_rows)
    images = Path(os.path.normpath(source.parent / config.image_root))  # paths are relative to the CSV's folder
    id_col = "image_id" if "image_id" in df.columns else path_col
    if group_col in df.columns:
        check_groups(df[group_col], source, group_col)
    table = pd.DataFrame(
        {
            "image_id": df[id_col].astype(str),
            "path": as_on_disk([str(images / clean_path(p)) for p in df[path_col]]),
            "label": labels,
            "group": df[group_col].astype(str).str.strip() if group_col in df.columns else df[id_col].astype(str),
        }
    )
    extra = [c for c in df.columns if c not in {path_col, *label_cols, group_col, "image_id"}]
    table = pd.concat([table, df[extra].reset_index(drop=True)], axis=1)
    check_inside(table, df[path_col].map(clean_path), root, source, config.allow_outside_links, base=images)
    rows = [csv_row(i) for i in range(len(table))]
    table, rows, skipped = skip_missing(
        table, source, rows, config, lambda: check_files_exist(table, source, df[path_col], images)
    )
    check_unique_paths(table, source, rows)
    check_unique_content(table, source, rows)
    return table, make_task(classes, config, space), skipped


def find_mask_images(person_dir: Path, source: Path, row: int) -> dict[str, Path]:
    if not person_dir.is_dir():
        raise DataError(
            f"{source}: row {row} names folder {person_dir}, which does not exist; "
            'restore the folder, remove the row, or set "on_missing": "skip" in competition.json'
        )
    files = [p for p in sorted(person_dir.iterdir()) if p.is_file() and not is_archive_artefact(p.name)]
    kinds = {p: file_kind(p) for p in files if p.stem in MASK_STEMS}
    refuse_unreadable_images(person_dir, [p for p, kind in kinds.items() if kind == "unreadable"])
    found = {p.stem: p for p, kind in kinds.items() if kind == "image"}
    missing = [s for s in MASK_STEMS if s not in found]
    if missing:
        raise DataError(
            f"{person_dir}: image file(s) {missing} not found (row {row} of {source}); "
            f"each person folder needs {list(MASK_STEMS)} with any image extension. Restore them, or "
            'set "on_missing": "skip" in competition.json to leave this person out'
        )
    return found


def mask_person(person, source: Path, row: int) -> tuple[int, int]:
    gender = GENDERS.get(person.gender.strip().lower())
    if gender is None:
        raise DataError(f"{source}: row {row} has gender {person.gender!r}; expected one of {list(GENDERS)}")
    try:
        age = int(float(person.age))
    except ValueError:
        age = -1
    if age < 0:
        raise DataError(f"{source}: row {row} has age {person.age!r}; expected a non-negative number")
    return gender, age


def load_mask_format(root: Path, config: CompetitionConfig) -> tuple[pd.DataFrame, Task, list[dict]]:
    source = root / config.train_csv
    people = read_csv(source, ["id", "gender", "race", "age", "path"], config, settings='"format": "csv"')
    check_groups(people["id"], source, "id")
    rows, row_numbers, skipped = [], [], []
    # a person's folder as the disk spells it: a Mac's unzip writes a Korean or accented name decomposed
    person_dirs = as_on_disk([str(root / "train" / "images" / person_path) for person_path in people["path"]])
    for i, person in enumerate(people.itertuples(index=False)):
        gender, age = mask_person(person, source, csv_row(i))
        try:
            images = find_mask_images(Path(person_dirs[i]), source, csv_row(i))
        except DataError as exc:
            if config.on_missing == "error":
                raise
            skipped.append({"row": csv_row(i), "image_id": person.path, "path": str(exc).split(":")[0]})
            continue
        for stem, mask in MASK_STEMS.items():
            rows.append(
                {
                    "image_id": f"{person.path}/{stem}",
                    "path": str(images[stem]),
                    "label": mask_class(mask, gender, age),
                    "group": str(person.id).strip(),
                    "mask": mask,
                    "gender": gender,
                    "age": age,
                    "race": person.race,
                }
            )
            row_numbers.append(csv_row(i))
    if not rows:
        raise DataError(f"{source}: no person has all {len(MASK_STEMS)} images; nothing to train on")
    table = pd.DataFrame(rows)
    check_inside(table, table["image_id"], root, source, config.allow_outside_links, rows=row_numbers)
    check_unique_paths(table, source, row_numbers)
    check_unique_content(table, source, row_numbers)  # one photo in two people's folders
    return table, make_task(MASK_CLASS_NAMES, config), skipped


def class_folder_root(root: Path) -> Path:
    """train/images/<class>/... or, ImageFolder style, train/<class>/..."""
    images = root / "train" / "images"
    return images if images.is_dir() and any(d.is_dir() for d in images.iterdir()) else root / "train"


def check_class_folders_hold_images(images: Path, files: dict[Path, list[Path]]) -> None:
    empty = [d.name for d, found in files.items() if not found]
    if empty:
        raise DataError(
            f"{images}: class folder(s) {empty} hold no image files ({sorted(IMAGE_EXTENSIONS)}); a "
            "class with no rows cannot be learned. Remove the folder(s), or list every class in "
            'competition.json ("classes": [...]) to keep an empty class on purpose'
        )


def load_folder_format(root: Path, config: CompetitionConfig) -> tuple[pd.DataFrame, Task, list[dict]]:
    images = class_folder_root(root)
    if not images.is_dir():
        raise DataError(
            f"{images}: no such folder; the folder format wants train/<class>/... or train/images/<class>/..."
        )
    class_dirs = sorted(d for d in images.iterdir() if d.is_dir() and not is_archive_artefact(d.name))
    files = {d: image_files(d) for d in class_dirs}
    if config.classes is None:
        check_class_folders_hold_images(images, files)
    # a class is its folder's name as typed: composed, though a Mac's unzip wrote it decomposed
    classes = tuple(config.classes) if config.classes is not None else tuple(composed(d.name) for d in class_dirs)
    rows = []
    for d in class_dirs:
        if composed(d.name) not in classes:
            raise DataError(f"{d}: class folder not in the classes list {list(classes)} of competition.json")
        for p in files[d]:
            rel = str(p.relative_to(images))
            rows.append({"image_id": rel, "path": str(p), "label": classes.index(composed(d.name)), "group": rel})
    if not rows:
        raise DataError(
            f"{images}: the split is empty (no image files under class folders); the folder format "
            "wants train/<class>/<image> or train/images/<class>/<image>"
        )
    table = pd.DataFrame(rows)
    row_numbers = list(range(1, len(table) + 1))
    check_inside(table, table["image_id"], root, images, config.allow_outside_links, rows=row_numbers)
    check_unique_content(table, images, rows=None)
    return table, make_task(classes, config, "name"), []  # folder names are the labels


def check_two_classes(root: Path, format: str, task: Task, config: CompetitionConfig) -> None:
    """One class is no classification: every model would score perfectly by predicting it."""
    if len(task.class_names) < 2:
        where = (
            f'column {config.label_column!r} of {config.train_csv} ("label_column" in competition.json names another)'
            if format == "csv"
            else "its class folders"
            if format == "folder"
            else format
        )
        raise DataError(
            f"{root}: train has one class ({task.class_names[0]!r}) in {where}; classification needs "
            "at least two. Point at the column that holds the labels, or add the other classes' rows"
        )


ADAPTERS = {"csv": load_csv_format, "mask": load_mask_format, "folder": load_folder_format}


def make_task(classes: tuple[str, ...], config: CompetitionConfig, space: str = "index") -> Task:
    return Task(
        class_names=tuple(classes),
        metric=config.metric,
        id_column=config.id_column,
        answer_column=config.answer_column,
        label_space=config.submission_labels or space,
    )


MASK_HEADER = {"id", "gender", "race", "age", "path"}


def detect_format(root: Path, config: CompetitionConfig) -> str:
    csv = root / config.train_csv
    if csv.exists():
        return "mask" if MASK_HEADER <= set(read_header(csv, config)) else "csv"
    folders = class_folder_root(root)
    if folders.is_dir() and any(d.is_dir() and image_files(d) for d in folders.iterdir()):
        return "folder"
    found = sorted(p.name for p in root.iterdir()) if root.is_dir() else "nothing (no such directory)"
    raise DataError(f"{root}: not a competition directory; {EXPECTED_LAYOUT}. Found: {found}")


SAMPLE_SUBMISSION = re.compile(r"sample_?submission.*\.csv", re.IGNORECASE)


def holds_images(folder: Path, look: int = 50) -> bool:
    """Whether a folder's first entries (it may hold 100,000) include an image file by its extension."""
    with os.scandir(folder) as entries:
        for _, entry in zip(range(look), entries):
            if entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                return True
    return False


def image_folder_named(root: Path, word: str) -> str | None:
    """The one folder of images, at most two levels down, whose name has `word` in it (train/, train_images/,
    jpeg/train/), else the one folder of images there is (Plant Pathology's images/ holds train and test
    alike); None when there is none or more than one."""
    folders = [
        d
        for d in [*root.iterdir(), *(c for d in root.iterdir() if d.is_dir() for c in d.iterdir())]
        if d.is_dir() and not any(is_archive_artefact(part) for part in d.relative_to(root).parts) and holds_images(d)
    ]
    named = [d for d in folders if word in d.name.lower()]
    found = named or folders
    return found[0].relative_to(root).as_posix() if len(found) == 1 else None


def kaggle_layout(root: Path, config: CompetitionConfig) -> dict[str, str | list[str]]:
    """The keys that read a competition as Kaggle's download lays it out: the labels table and one
    sample_submission*.csv at the root, the images in folders beside them (train/ and test/, train_images/ and
    test_images/, jpeg/train/ and jpeg/test/), or class folders under train/. Only where the usual layout
    (train/train.csv, eval/) is absent and competition.json names no template of its own; a key it sets is kept,
    and the others are read around it.
    The template's first column is the ids (and the labels table's paths, as Kaggle names them alike), its one
    other column the answers (and the labels, where the table has that column, else the table's one other
    column); the image folders are the ones whose names say train and test. A choice that is not plain (two
    tables, several label columns) is an error naming the candidates; `data` prints what was read."""
    given = config.model_fields_set
    if (root / "train" / "train.csv").exists() or (root / "eval").exists() or "eval_csv" in given:
        return {}  # the usual layout, or one's own named in competition.json
    templates = [p for p in root.iterdir() if p.is_file() and SAMPLE_SUBMISSION.fullmatch(p.name)]
    if len(templates) != 1:
        return {}
    template = templates[0]
    keys: dict[str, str | list[str]] = {"eval_csv": template.name}
    header = read_header(template, config)
    keys["id_column"] = config.id_column if "id_column" in given else header[0]
    if len(header) == 2:
        keys["answer_column"] = header[1]
    eval_images = image_folder_named(root, "test")
    if eval_images:
        keys["eval_images"] = eval_images
    folders = class_folder_root(root)
    if not (folders.is_dir() and any(d.is_dir() and holds_images(d) for d in folders.iterdir())):  # not ImageFolder
        keys.update(labels_table_keys(root, config, template, header, keys))
    return {key: value for key, value in keys.items() if key not in given}


def labels_table_keys(
    root: Path, config: CompetitionConfig, template: Path, header: list[str], keys: dict
) -> dict[str, str | list[str]]:
    """kaggle_layout's keys for the labels table: which file, its path and label column(s), its images' folder.
    A table with the template's class columns is one-hot (Plant Pathology 2020)."""
    given = config.model_fields_set
    if "train_csv" in given:
        tables = [root / config.train_csv]
    else:
        tables = sorted(
            p for p in root.glob("*.csv") if p != template and not p.name.lower().startswith(("test", "sample"))
        )
    if len(tables) > 1:
        raise DataError(
            f"{root}: read as a Kaggle download (beside {template.name}), but which table holds the labels: "
            f"{[p.name for p in tables]}? Set it in {root / 'competition.json'}: " + '{"train_csv": "<file>"}'
        )
    if not tables or not tables[0].is_file():
        return {}
    columns = read_header(tables[0], config)
    table = tables[0].relative_to(root).as_posix()
    found: dict[str, str | list[str]] = {"train_csv": table}
    path = config.path_column if "path_column" in given else keys["id_column"]
    found["path_column"] = path = path if path in columns else columns[0]
    others = [c for c in columns if c != path]
    class_columns = header[1:]
    if "label_column" in given or "label_columns" in given:
        pass
    elif len(class_columns) > 1 and set(class_columns) <= set(others):
        found["label_columns"] = class_columns
    elif keys.get("answer_column") in columns:
        found["label_column"] = keys["answer_column"]
    elif len(others) == 1:
        found["label_column"] = others[0]
    else:
        raise DataError(
            f"{tables[0]}: read as a Kaggle download (beside {template.name}), but which of its columns "
            f"{others} holds the labels? Set it in {root / 'competition.json'}: "
            '{"label_column": "<column>"}, or "label_columns": [...] for a column per class marked 0 or 1'
        )
    train_images = image_folder_named(root, "train")
    if train_images:
        found["image_root"] = posixpath.relpath(train_images, posixpath.dirname(table) or ".")
    return found


def check_answers(root: Path, config: CompetitionConfig) -> None:
    if config.answers is None:
        return
    path = root / config.answers
    if not path.is_file():
        raise DataError(
            f'{root / "competition.json"}: "answers" names {config.answers!r}, but {path} does not '
            "exist; fix the name or remove the key"
        )
    if not config.allow_outside_links and not Path(os.path.realpath(path)).is_relative_to(root):
        raise DataError(
            f'{root / "competition.json"}: "answers" {config.answers!r} resolves to '
            f"{os.path.realpath(path)}, outside the competition root {root}; copy the file in"
        )


def load_competition(root: str | Path, format: str | None = None, name: str | None = None) -> Competition:
    """Read a competition directory into canonical tables and a Task."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataError(
            f"{root}: competition directory does not exist; "
            "prepare a built-in one with `python -m competition data NAME` or pass a path"
        )
    config = read_config(root)
    inferred = kaggle_layout(root, config)
    config = config.model_copy(update=inferred)
    check_answers(root, config)
    format = format or config.format or detect_format(root, config)
    if format not in ADAPTERS:
        raise DataError(f"{root}: unknown format {format!r}; known formats: {sorted(ADAPTERS)}")
    train, task, skipped = ADAPTERS[format](root, config)
    check_two_classes(root, format, task, config)
    meta = config.model_dump(exclude_none=True, exclude_defaults=True)
    eval_table, template = read_eval(root, task, config)
    competition = Competition(
        name=name or config.name or root.name,
        root=root,
        task=task,
        train=train.reset_index(drop=True),
        eval=eval_table,
        format=format,
        meta=meta,
        skipped=skipped,
        template=template,
        inferred=inferred,
    )
    check_submission_form(competition)
    return competition


def check_submission_form(competition: Competition) -> None:
    """A submission form competition.json chooses must fit the task and the template."""
    form, task = competition.submission_form, competition.task
    where = f'{competition.root / "competition.json"}: "submission": "{form}"'
    if form == "probability" and task.num_classes != 2:
        raise DataError(
            f"{where} answers with one class's probability, which needs two classes, and the task has "
            f'{task.num_classes}; put a column per class in eval/info.csv ("class_columns") or answer with labels'
        )
    absent = [name for name in task.class_names if name not in competition.eval_template().columns]
    if form == "class_columns" and absent:
        raise DataError(
            f"{where} answers in a column per class, and eval/info.csv has no column for {absent[:5]}; add them "
            f"(its columns are {list(competition.eval_template().columns)})"
        )
