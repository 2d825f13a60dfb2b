"""Exploratory data analysis: counts, imbalance, sizes, channel statistics,
exact and near duplicates, plots and a markdown summary."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from ..files import staging_folder
from .cache import SIXTEEN_BIT_MODES, Preprocess, cached_images, image_header, training_size
from .dataset import image_digests
from .task import Competition


def image_hashes(images: np.ndarray) -> np.ndarray:
    """Content hash of each decoded image (row of an N x H x W x C array), as hex."""
    return np.array([digest.hex() for digest in image_digests(images)])


def duplicates_within(hashes: np.ndarray) -> list[list[int]]:
    """Groups of row indices sharing one content hash (groups of 2 or more)."""
    rows: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        rows.setdefault(h, []).append(i)
    return [r for r in rows.values() if len(r) > 1]


def duplicates_across(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """(row in a, row in b) pairs with identical content."""
    first_in_a: dict = {}
    for i, h in enumerate(a):
        first_in_a.setdefault(h, i)
    return [(first_in_a[h], j) for j, h in enumerate(b) if h in first_in_a]


EDA_SIDE = 64  # the longest side EDA decodes to: statistics and exact duplicates need no more

# Near duplicates: the same picture re-encoded, rescaled or re-exposed. Candidates are each image's closest
# few by an 8 x 8 grey thumbnail (zero mean, unit norm: one matrix product per block of rows) whose cosine
# is NEAR_THUMB_SIMILARITY or more; a candidate
# is a near duplicate when, at the EDA size, its pixels correlate with the image's at NEAR_CORRELATION or
# more and, less the brightness offset that fits best (the median difference), differ from them by
# NEAR_MEAN_DIFF levels (of 255) or less on average. Measured (session 29):
# 200 px crops of scikit-learn's two sample photos, downscaled 0.8x and saved as JPEG quality 60, kept a
# correlation of 0.993 or more and a mean difference of 4.6 or less, while distinct crops of the same photos
# correlated at 0.85 at most. Fashion-MNIST: 189 pairs within train (each pair one label) and 71 eval images
# with a train twin pass both; finding them took 7.7 s and 1.7 s (2 threads of an Intel Xeon with AMX).
NEAR_THUMB_SIDE, NEAR_CANDIDATES, NEAR_THUMB_SIMILARITY = 8, 5, 0.95
NEAR_CORRELATION, NEAR_MEAN_DIFF = 0.99, 6.0


def thumbnails(images: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(N, 64) float32: each image grey, area-resized to 8 x 8, zero mean and unit norm (a flat image is 0)."""
    side = NEAR_THUMB_SIDE
    out = np.empty((len(images), side * side), np.float32)
    for start in range(0, len(images), chunk):
        for i, image in enumerate(np.asarray(images[start : start + chunk], dtype=np.float32), start):
            out[i] = cv2.resize(image.mean(axis=-1), (side, side), interpolation=cv2.INTER_AREA).ravel()
    out -= out.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 1e-3)


def same_pictures(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Of pairs of images (row i of x with row i of y), which are one picture: NEAR_MEAN_DIFF and NEAR_CORRELATION."""
    x, y = x.reshape(len(x), -1).astype(np.float32), y.reshape(len(y), -1).astype(np.float32)
    difference = x - y
    difference -= np.median(difference, axis=1, keepdims=True)  # a brightness offset (re-exposed) is no difference
    close = np.abs(difference).mean(axis=1) <= NEAR_MEAN_DIFF
    x -= x.mean(axis=1, keepdims=True)
    y -= y.mean(axis=1, keepdims=True)
    scale = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    correlation = np.einsum("ij,ij->i", x, y) / np.maximum(scale, 1e-12)
    return close & (scale > 0) & (correlation >= NEAR_CORRELATION)


def near_duplicates(
    images: np.ndarray,
    hashes: np.ndarray,
    others: np.ndarray | None = None,
    other_hashes: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """(row in images, row in others) pairs of one picture whose bytes differ (exact copies are reported apart);
    within `images` when `others` is None, each pair once as (i, j), i < j."""
    within = others is None or other_hashes is None
    targets = images if others is None else others
    target_hashes = hashes if other_hashes is None else other_hashes
    k = min(NEAR_CANDIDATES, len(targets) - within)
    if k <= 0:
        return []
    mine, theirs = torch.from_numpy(thumbnails(images)), torch.from_numpy(thumbnails(targets))
    block = max(1, 2**22 // len(targets))  # about 16 MB of similarities at a time: they stay in cache
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(mine), block):
        similarity = mine[start : start + block] @ theirs.T
        rows = np.arange(start, start + len(similarity))
        if within:
            similarity[rows - start, rows] = -np.inf  # an image is not its own twin
        nearest, closest = (t.numpy().ravel() for t in similarity.topk(k, dim=1))
        # one picture's thumbnails all but coincide: the pixel test need not see the rest
        i, j = np.repeat(rows, k)[nearest >= NEAR_THUMB_SIMILARITY], closest[nearest >= NEAR_THUMB_SIMILARITY]
        other_bytes = hashes[i] != target_hashes[j]
        i, j = i[other_bytes], j[other_bytes]
        for chunk in range(0, len(i), 4096):
            a, b = i[chunk : chunk + 4096], j[chunk : chunk + 4096]
            same = same_pictures(np.asarray(images[a]), np.asarray(targets[b]))
            found = zip(a[same].tolist(), b[same].tolist())
            pairs.update((min(p, q), max(p, q)) if within else (p, q) for p, q in found)
    return sorted(pairs)


def source_sizes(paths: pd.Series) -> pd.DataFrame:
    """(width, height, mode) of each image from its header alone (a decompression bomb is refused here)."""
    return pd.DataFrame([image_header(p)[:3] for p in paths], columns=["width", "height", "mode"])


GRAY_MODES = {"L", "LA", "1", "F"} | SIXTEEN_BIT_MODES  # PIL modes of one colour channel (LA: gray and alpha)


def size_outliers(paths: pd.Series, sizes: pd.DataFrame, factor: int = 4) -> list[str]:
    """Images whose width or height is a `factor` or more off the median's, each as 'path (w x h)': a thumbnail
    or a truncated export among full images trains upscaled to the common size without a word."""
    width, height = sizes["width"].median(), sizes["height"].median()
    off = (
        (sizes["width"] * factor <= width)
        | (sizes["height"] * factor <= height)
        | (sizes["width"] >= width * factor)
        | (sizes["height"] >= height * factor)
    )
    rows = off.to_numpy()
    widths, heights = sizes["width"].to_numpy()[rows], sizes["height"].to_numpy()[rows]
    return [f"{path} ({w}x{h})" for path, w, h in zip(np.asarray(paths)[rows], widths, heights)]


def analysis_preprocess(sizes: pd.DataFrame) -> Preprocess:
    """Decode at most EDA_SIDE on the longest side, in the most common aspect ratio: the EDA cache is never
    larger than a training cache at that size, however large the photos (small uniform images stay as
    they are, and share the training cache)."""
    channels = 1 if set(sizes["mode"]) <= GRAY_MODES else 3
    (width, height), _ = Counter(zip(sizes["width"], sizes["height"])).most_common(1)[0]
    uniform = sizes[["width", "height"]].drop_duplicates().shape[0] == 1
    if uniform and max(width, height) <= EDA_SIDE:
        return Preprocess(size=None, channels=channels)
    scale = EDA_SIDE / max(width, height)
    return Preprocess(size=(max(8, round(height * scale)), max(8, round(width * scale))), channels=channels)


def trains_at(paths: pd.Series) -> str:
    """The size training caches the images at without Experiment(image_size=...): the analysis size above
    is the EDA's own, and mixed sizes train at the median of train's (cache.training_size)."""
    size = training_size(paths)
    return "each image's own size" if size is None else f"{size[1]}x{size[0]} (w x h), the median of train's sizes"


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over every pixel, in chunks (bounded memory on a large memmap)."""
    total = np.zeros(images.shape[-1])
    squares = np.zeros(images.shape[-1])
    for start in range(0, len(images), chunk):
        block = np.asarray(images[start : start + chunk], dtype=np.float64) / 255.0
        total += block.sum(axis=(0, 1, 2))
        squares += (block**2).sum(axis=(0, 1, 2))
    count = images.shape[0] * images.shape[1] * images.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0))
    return mean.round(4).tolist(), std.round(4).tolist()


def analyze(competition: Competition, cache_dir: Path | None = None) -> dict:
    cache_dir = cache_dir or competition.root.parent / ".cache"  # beside the competition, not inside it
    train, eval_ = competition.train, competition.eval
    sizes = source_sizes(train["path"])
    spec = analysis_preprocess(sizes)
    train_images = cached_images(train["path"], spec, cache_dir)
    counts = train["label"].value_counts().reindex(range(competition.task.num_classes), fill_value=0)
    mean, std = channel_stats(train_images)
    train_hashes = image_hashes(train_images)
    summary = {
        "name": competition.name,
        "format": competition.format,
        "train_images": len(train),
        "eval_images": len(eval_),
        "groups": int(train["group"].nunique()),
        "class_counts": {competition.task.class_names[c]: int(n) for c, n in counts.items()},
        # among the classes that have rows; empty classes are listed apart, not hidden in the ratio
        "imbalance_ratio": float(counts.max() / counts[counts > 0].min()),
        "empty_classes": [competition.task.class_names[c] for c, n in counts.items() if n == 0],
        "sizes": {f"{w}x{h}": n for (w, h), n in Counter(zip(sizes.width, sizes.height)).most_common(5)},
        "size_outliers": size_outliers(train["path"], sizes),
        "modes": dict(Counter(sizes["mode"])),
        "channel_mean": mean,
        "channel_std": std,
        "decoded_at": "source size" if spec.size is None else f"{spec.size[1]}x{spec.size[0]} (w x h)",
        "trains_at": trains_at(train["path"]),
        "duplicates_within_train": duplicates_within(train_hashes),
        "duplicates_train_eval": [],
        "near_duplicates_within_train": paths_of(train, train, near_duplicates(train_images, train_hashes)),
        "near_duplicates_train_eval": [],
    }
    if len(eval_):
        eval_images = cached_images(eval_["path"], spec, cache_dir)
        eval_hashes = image_hashes(eval_images)
        summary["duplicates_train_eval"] = duplicates_across(train_hashes, eval_hashes)
        pairs = near_duplicates(eval_images, eval_hashes, train_images, train_hashes)
        summary["near_duplicates_train_eval"] = paths_of(eval_, train, pairs)
    summary["_images"] = train_images  # for the sample grid; dropped before writing
    return summary


def paths_of(first: pd.DataFrame, second: pd.DataFrame, pairs: list[tuple[int, int]]) -> list[list[str]]:
    return [[str(first["path"].iat[i]), str(second["path"].iat[j])] for i, j in pairs]


def drawable(class_names) -> list[str]:
    """Class names as tick labels, or their indices when the plotting font lacks a glyph they need (Hangul
    names with matplotlib's default font would be drawn as boxes); report.md maps indices to names."""
    from matplotlib import font_manager, ft2font

    names = [str(name) for name in class_names]
    charmap = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap()
    if all(ord(c) in charmap for name in names for c in name if not c.isspace()):
        return names
    return [str(i) for i in range(len(names))]


def plot_class_distribution(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, counts = zip(*summary["class_counts"].items())
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names)), 4))
    ax.bar(range(len(names)), counts, color="#4472c4")
    ax.set_xticks(range(len(names)), drawable(names), rotation=45, ha="right")
    ax.set_ylabel("train images")
    ax.set_title(f"{summary['name']}: class distribution (imbalance ratio {summary['imbalance_ratio']:.1f})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_sample_grid(
    competition: Competition, images: np.ndarray, path: Path, per_class: int = 8, seed: int = 0
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    names = competition.task.class_names
    fig, axes = plt.subplots(len(names), per_class, figsize=(per_class * 0.9, len(names) * 0.95), squeeze=False)
    labels = competition.train["label"].to_numpy()
    for c, row in enumerate(axes):
        members = np.flatnonzero(labels == c)
        chosen: np.ndarray | list = (
            rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        )
        for ax in row:
            ax.axis("off")
        for ax, i in zip(row, chosen):
            image = images[i]
            ax.imshow(image[:, :, 0] if image.shape[2] == 1 else image, cmap="gray")
        row[0].set_title(drawable(names)[c], fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_summary(summary: dict) -> str:
    lines = [
        f"# EDA: {summary['name']}",
        "",
        f"- format: {summary['format']}; train images: {summary['train_images']}; "
        f"eval images: {summary['eval_images']}; groups: {summary['groups']}",
        f"- imbalance ratio (largest / smallest non-empty class): {summary['imbalance_ratio']:.2f}",
        f"- empty classes (no train rows): {summary['empty_classes'] or 'none'}",
        f"- image sizes (w x h: count): {summary['sizes']}; modes: {summary['modes']}; analysed at "
        f"{summary['decoded_at']}",
        f"- trains at (without Experiment(image_size=...)): {summary['trains_at']}",
        f"- sizes a factor of 4 or more off the median (thumbnails, truncated exports?): "
        f"{len(summary['size_outliers'])} {summary['size_outliers'][:5] if summary['size_outliers'] else ''}".rstrip(),
        f"- channel mean: {summary['channel_mean']}; channel std: {summary['channel_std']}",
        f"- exact duplicates within train: {len(summary['duplicates_within_train'])} groups "
        f"({sum(len(g) for g in summary['duplicates_within_train'])} images)",
        f"- exact duplicates across train/eval: {len(summary['duplicates_train_eval'])} eval images",
        f"- near duplicates (one picture re-encoded, rescaled or re-exposed) within train: "
        f"{len(summary['near_duplicates_within_train'])} pairs{example(summary['near_duplicates_within_train'])}"
        + (
            " (give each pair one group, group_column, so that no split puts it on both sides)"
            if summary["near_duplicates_within_train"]
            else ""
        ),
        f"- near duplicates of train images among eval: {len(summary['near_duplicates_train_eval'])} pairs"
        f"{example(summary['near_duplicates_train_eval'])}",
        "",
        "| index | class | train images |",
        "|---:|---|---:|",
    ]
    lines += [f"| {i} | {name} | {n} |" for i, (name, n) in enumerate(summary["class_counts"].items())]
    return "\n".join(lines) + "\n"


def example(pairs: list[list[str]], shown: int = 3) -> str:
    return f", e.g. {'; '.join(' ~ '.join(pair) for pair in pairs[:shown])}" if pairs else ""


def run_eda(competition: Competition, out_dir: str | Path, cache_dir: Path | None = None) -> dict:
    """Analyze, write class_distribution.png, samples.png and summary.md to out_dir."""
    out_dir = Path(out_dir)
    summary = analyze(competition, cache_dir)  # every bad input is reported before anything is written
    images = summary.pop("_images")
    staging = staging_folder(out_dir.parent, out_dir.name)
    try:
        plot_class_distribution(summary, staging / "class_distribution.png")
        plot_sample_grid(competition, images, staging / "samples.png")
        (staging / "summary.md").write_text(format_summary(summary))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)  # the report appears whole, or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary
