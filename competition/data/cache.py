"""Decode, crop and resize every image once into a uint8 N x H x W x C cache.

The cache is a memory-mapped ``.npy`` keyed by the bytes of every file and the
preprocessing spec. It is written into a staging folder and renamed into place,
so a killed writer never leaves an entry that is later read as complete.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from ..errors import DataError
from ..files import DiskFullError, clear_stale, sha256_file, staging_folder
from ..registry import CROPS

for _crop in ("none", "center", "center:", "face", "box:"):  # center:H,W and box:x0,y0,x1,y1 in source pixels
    CROPS.register(_crop, _crop)

CACHE_FORMAT = 1  # part of every cache key, and so of every data fingerprint and baseline: change with care
# How two kinds of input decode, in the keys of those inputs alone (so no other key, fingerprint or baseline moves):
DRAFT_DECODING = 2  # draft=True; 2: EXIF orientation applied (1 left phone photos lying down)
TIFF_DECODING = 2  # each TIFF file; 2: float images scaled from [0, 1] (1 clipped them black), 32-bit ints checked
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
ALPHA_DECODING = 2  # each file with transparency; 2: composited over black (1 kept whatever colour it hid)


class CacheWarning(UserWarning):
    """A cache entry failed its checksum and is rebuilt."""


@dataclass(frozen=True)
class Preprocess:
    """How raw files become cache rows.

    size: output (height, width); None keeps the source size (images of another size are resized to
    the first image's size; runner.prepare_data sets the median size for a split of mixed sizes,
    training_size, and caches eval at train's size, sized_like; `competition data` states the sizes found).
    crop: "none", "center" (largest centred square), "center:H,W" (a centred H x W
    window in source pixels), "face" (Haar cascade, falls back to center) or
    "box:x0,y0,x1,y1" (a fixed box in source pixels).
    channels: 1 (grayscale) or 3 (RGB; grayscale is repeated).
    draft: decode JPEGs at 1/2, 1/4 or 1/8 scale (PIL's draft mode) when the
    target is that much smaller, with crop "none" or "center": a 1.5x faster
    cache build of 384x512 photos to 128x96, pixels 0.5 levels apart on average
    (benchmarks/bench_photos.py). Off by default; it is part of the key.
    """

    size: tuple[int, int] | None = None
    crop: str = "none"
    channels: int = 3
    face_margin: float = 0.4
    draft: bool = False

    def __post_init__(self):
        if isinstance(self.size, int):
            object.__setattr__(self, "size", (self.size, self.size))
        if self.channels not in (1, 3):
            raise DataError(f"Preprocess.channels={self.channels}: use 1 (grayscale) or 3 (RGB)")
        CROPS.check(self.crop, field="crop")
        if ":" in self.crop:
            parse_ints(self.crop, 2 if self.crop.startswith("center:") else 4)

    def key_fields(self) -> dict:
        """The fields a cache key hashes; `draft` only when on, so the keys of every earlier spec stand (and as
        DRAFT_DECODING when on, so a cache drafted before phone photos were turned upright is not served)."""
        fields = asdict(self)
        if not self.draft:
            fields.pop("draft")
        else:
            fields["draft"] = DRAFT_DECODING
        return fields


def decode_draft(path: str | Path, spec: Preprocess) -> np.ndarray | None:
    """The JPEG at `path` decoded at the smallest scale that still covers the target, or None when
    draft decoding does not apply (not a JPEG, a crop in source pixels, no size)."""
    if spec.size is None or spec.crop not in ("none", "center"):
        return None
    h, w = spec.size
    want = (max(h, w),) * 2 if spec.crop == "center" else (w, h)
    try:
        with Image.open(path) as image:
            if image.format != "JPEG":
                return None
            stored = want[::-1] if turned_on_display(image) else want  # draft scales the pixels as stored
            image.draft("L" if spec.channels == 1 else "RGB", stored)
            shown = ImageOps.exif_transpose(image)  # as decode_image shows it: a phone photo upright
            array = np.asarray(shown.convert("L" if spec.channels == 1 else "RGB"))
    except OSError:
        return None  # decode_image reports the file the usual way
    return array[:, :, None] if spec.channels == 1 else array


EXIF_ORIENTATION = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations shown with width and height swapped


def turned_on_display(image: Image.Image) -> bool:
    """Whether the image's EXIF orientation shows it a quarter turn from how its pixels are stored (a phone
    photo taken upright), as every decoder here applies it."""
    try:
        return image.getexif().get(EXIF_ORIENTATION) in QUARTER_TURNS
    except (OSError, SyntaxError, ValueError):  # a damaged EXIF block: the pixels are shown as stored
        return False


MAX_PIXELS = 100_000_000  # a decompression bomb declares more; no real training image is that large
SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "I;16S"}
PIL_MODES = {"F", "I"}  # 32-bit float and integer pixels: PIL reads them whole, OpenCV warns or saturates them


HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis")


def not_an_image(path: str | Path) -> str:
    """What a file no decoder reads is, when its first bytes say, and what to do; '' when they do not. Scraped
    and synced datasets hold such files under image names: an HTML error page saved as cat_123.jpg, a Git LFS
    pointer where `git lfs pull` was not run, an iPhone's HEIC photo."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return ""
    text = head.lstrip().lower()
    if not head:
        return "an empty file (0 bytes): re-download or re-export it, or remove its row"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the image: run `git lfs pull` in the repository the data came from"
    if b"<svg" in text:
        return "an SVG drawing, which is not decoded here: rasterise it to PNG (e.g. with cairosvg or Inkscape)"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return "a web page (HTML), not an image: a download that failed; download it again or remove its row"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "a HEIC/HEIF photo, which neither Pillow nor OpenCV decodes here: convert it to JPEG or PNG"
    if head.startswith(b"%PDF"):
        return "a PDF document, not an image: export its pages as PNG"
    return ""


def unreadable(path: str | Path, exc: Exception) -> DataError:
    """The error for a file the decoders refuse: what its first bytes say it is, else corrupt."""
    what = not_an_image(path) or "corrupt or unreadable image; re-export the file or remove its row from the CSV"
    return DataError(f"{path}: {what} ({type(exc).__name__}: {exc})")


def image_header(path: str | Path) -> tuple[int, int, str, str]:
    """(width, height, mode, format) from the file's header alone, refusing a decompression bomb
    before a single pixel is decoded. Width and height are as the image is shown (EXIF orientation
    applied, as the decoders apply it), so a portrait phone photo is counted as portrait."""
    Image.MAX_IMAGE_PIXELS = None  # our own limit below names the file and what to do
    try:
        with Image.open(path) as image:
            width, height, mode, kind = image.width, image.height, image.mode, image.format or ""
            if turned_on_display(image):
                width, height = height, width
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found; restore it or remove its row from the CSV") from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise unreadable(path, exc) from None
    if width * height > MAX_PIXELS:
        raise DataError(
            f"{path}: declares {width}x{height} pixels ({width * height / 1e6:.0f} MP), over the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit (a decompression bomb, or an image far larger than "
            "training needs); downscale or remove it"
        )
    return width, height, mode, kind


def to_eight_bits(image: np.ndarray) -> np.ndarray:
    """16-bit pixels to 8 bits by the depth they use: 12-bit data (max < 4096) spans 0-4095, not 0-65535,
    so it is scaled by its own range instead of keeping 16 grey levels."""
    if image.dtype == np.uint8:
        return image
    peak = int(image.max()) if image.size else 0
    bits = next((b for b in (8, 10, 12, 14, 16) if peak < (1 << b)), 16)
    return np.round(image.astype(np.float32) * (255.0 / ((1 << bits) - 1))).clip(0, 255).astype(np.uint8)


def floats_to_eight_bits(image: np.ndarray, path: str | Path) -> np.ndarray:
    """A floating-point image (a TIFF of mode F, as scientific and medical data come) as 8 bits: values in
    [0, 1] scaled to 0-255, values in [0, 255] kept. PIL's own conversion clipped [0, 1] data to levels 0
    and 1, an all-black image, without a word; any other range has no one reading, so it is refused."""
    low, high = (float(image.min()), float(image.max())) if image.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise DataError(
            f"{path}: a floating-point image with values in [{low:g}, {high:g}]; the harness reads float "
            "images in [0, 1] or [0, 255]. Rescale the file (or export it as 8 or 16 bits) to the range "
            "you mean"
        )
    scale = 255.0 if high <= 1.0 else 1.0
    return np.round(image * scale).astype(np.uint8)


def decode_with_pil(path: str | Path, channels: int) -> np.ndarray | None:
    """GIFs, and anything else OpenCV cannot read, through PIL (EXIF orientation applied)."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)  # type: ignore[assignment]  # an Image, no longer the file
            if image.mode in SIXTEEN_BIT_MODES or image.mode == "F":
                values = np.asarray(image)
            else:
                array = np.asarray(image.convert("L" if channels == 1 else "RGB"))
                return array[:, :, None] if channels == 1 else array
    except (OSError, SyntaxError, ValueError):
        return None
    if values.dtype.kind == "f":
        gray = floats_to_eight_bits(values, path)
    elif values.size and (int(values.min()) < 0 or int(values.max()) > 65535):
        raise DataError(
            f"{path}: a 32-bit integer image with values in [{int(values.min())}, {int(values.max())}], "
            "beyond 16 bits; export it as 8 or 16 bits (values 0-65535)"
        )
    else:
        gray = to_eight_bits(values.astype(np.uint16))
    return gray[:, :, None] if channels == 1 else np.repeat(gray[:, :, None], 3, axis=2)


PNG_MAGIC, GIF_MAGICS = b"\x89PNG\r\n\x1a\n", (b"GIF87a", b"GIF89a")


def has_transparency(data: bytes) -> bool:
    """Whether an image file's bytes may hold transparent pixels: a PNG with an alpha channel or a tRNS chunk,
    a GIF with a transparent colour, a WebP with alpha. Read from headers and chunk names, nothing decoded; a
    false yes costs only the slower decoding below, which gives opaque images their own pixels."""
    if data.startswith(PNG_MAGIC):
        if len(data) > 25 and data[25] in (4, 6):  # IHDR colour type: grey + alpha, RGB + alpha
            return True
        idat = data.find(b"IDAT")
        return b"tRNS" in data[: idat if idat >= 0 else len(data)]
    if data[:6] in GIF_MAGICS:  # a graphic control extension whose transparency flag is set
        start = data.find(b"\x21\xf9\x04")
        while 0 <= start < len(data) - 4:
            if data[start + 3] & 1:
                return True
            start = data.find(b"\x21\xf9\x04", start + 1)
        return False
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) > 24:
        if data[12:16] == b"VP8X":
            return bool(data[20] & 0x10)
        if data[12:16] == b"VP8L":  # lossless: 14 bits of width, 14 of height, then the alpha bit
            return bool(int.from_bytes(data[21:25], "little") >> 28 & 1)
    return False


def decode_over_black(path: str | Path, channels: int) -> np.ndarray:
    """An image with transparency, composited over black. Dropping the alpha kept the colour each transparent
    pixel happened to store (a GIF's transparent index is often magenta or white, an editor's PNG keeps what
    was erased), so backgrounds differed from file to file without a word."""
    try:
        with Image.open(path) as image:
            rgba = np.asarray(ImageOps.exif_transpose(image).convert("RGBA"), dtype=np.float32)
    except (OSError, SyntaxError, ValueError) as exc:
        raise unreadable(path, exc) from None
    rgb = np.round(rgba[..., :3] * (rgba[..., 3:] / 255.0)).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None] if channels == 1 else rgb


def decode_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """Read an image file as uint8 H x W x C (RGB or gray); clear error if unreadable.

    The header is checked first (a bomb is refused before decoding); 16-bit images are scaled by the
    depth they use; EXIF orientation is applied; what OpenCV cannot decode (GIF) goes through PIL."""
    if not Path(path).is_file():
        raise DataError(f"{path}: image file not found; restore it or remove its row from the CSV")
    _, _, mode, kind = image_header(path)
    raw = Path(path).read_bytes()
    data = np.frombuffer(raw, dtype=np.uint8)  # a view: the transparency check reads the same bytes
    if mode not in SIXTEEN_BIT_MODES | PIL_MODES and has_transparency(raw):
        return decode_over_black(path, channels)
    flags = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    if mode in SIXTEEN_BIT_MODES:
        flags |= cv2.IMREAD_ANYDEPTH
    image = cv2.imdecode(data, flags) if data.size and kind != "GIF" and mode not in PIL_MODES else None
    if image is None:
        image = decode_with_pil(path, channels)
        if image is None:
            raise DataError(
                f"{path}: corrupt or unreadable image ({data.size} bytes); "
                "re-export the file or remove its row from the CSV"
            )
        return image
    image = to_eight_bits(image)
    if channels == 1:
        return image[:, :, None]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def colour_sample(paths, labels=None, sample: int = 16) -> list:
    """The images the colour check reads: `sample` spread evenly over the rows, and the first of each class.
    The first rows alone are often one class (a folder layout lists class by class), so one gray class
    listed first (scans beside photos) made every photo gray."""
    paths = list(paths)
    spread = np.unique(np.linspace(0, len(paths) - 1, num=min(sample, len(paths))).round().astype(int))
    firsts: list[int] = [] if labels is None else list(np.unique(np.asarray(labels), return_index=True)[1])
    return [paths[i] for i in sorted(set(spread) | set(firsts))]


def image_channels(paths, labels=None, sample: int = 16) -> int:
    """3 when any image of the colour sample (`colour_sample`) has colour, 1 when they are all gray."""
    for path in colour_sample(paths, labels, sample):
        image_header(path)  # a decompression bomb is refused before OpenCV decodes it
        # a transparent ground is read as it decodes (black), not as the colour it hides
        transparent = has_transparency(Path(path).read_bytes())
        image = None if transparent else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:  # a TGA, say: PIL reads it, or the usual error names the file
            image = decode_image(path, 3)
        if (
            image.ndim == 3
            and image.shape[2] >= 3
            and not (np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))
        ):
            return 3
    return 1


def center_box(h: int, w: int) -> tuple[int, int, int, int]:
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return x0, y0, x0 + side, y0 + side


@lru_cache(maxsize=1)
def face_detector() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]


def face_box(image: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """Largest frontal face, grown by `margin` on each side; the center square if none."""
    h, w = image.shape[:2]
    gray = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    faces = face_detector().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(16, h // 10), max(16, w // 10))
    )
    if len(faces) == 0:
        return center_box(h, w)
    x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])
    grow_x, grow_y = int(fw * margin), int(fh * margin)
    return max(0, x - grow_x), max(0, y - grow_y), min(w, x + fw + grow_x), min(h, y + fh + grow_y)


def parse_ints(crop: str, count: int) -> list[int]:
    try:
        values = [int(v) for v in crop.partition(":")[2].split(",")]
    except ValueError:
        values = []
    if len(values) != count or min(values) < 0:
        raise DataError(
            f"crop {crop!r}: give {count} non-negative integers after the colon, e.g. "
            + ("'center:384,288'" if count == 2 else "'box:10,20,110,120'")
        )
    return values


def crop_box(image: np.ndarray, spec: Preprocess, path) -> tuple[int, int, int, int]:
    h, w = image.shape[:2]
    if spec.crop == "center":
        return center_box(h, w)
    if spec.crop == "face":
        return face_box(image, spec.face_margin)
    if spec.crop.startswith("center:"):
        ch, cw = parse_ints(spec.crop, 2)
        if ch > h or cw > w:
            raise DataError(
                f"{path}: crop {spec.crop!r} is larger than the {w}x{h} image (width x height); choose a smaller window"
            )
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return x0, y0, x0 + cw, y0 + ch
    x0, y0, x1, y1 = parse_ints(spec.crop, 4)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise DataError(f"{path}: crop box {spec.crop!r} lies outside the {w}x{h} image; choose a smaller box")
    return x0, y0, x1, y1


def preprocess_image(path: str | Path, spec: Preprocess) -> np.ndarray:
    image = decode_draft(path, spec) if spec.draft else None
    if image is None:
        image = decode_image(path, spec.channels)
    if spec.crop != "none":
        x0, y0, x1, y1 = crop_box(image, spec, path)
        image = image[y0:y1, x0:x1]
    if spec.size is not None and image.shape[:2] != tuple(spec.size):
        h, w = spec.size
        shrinking = h * w < image.shape[0] * image.shape[1]
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        image = image.reshape(h, w, spec.channels)
    return image


def cache_key(paths: list[str], spec: Preprocess) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps({"format": CACHE_FORMAT, **spec.key_fields()}, sort_keys=True).encode())
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except FileNotFoundError:
            raise DataError(f"{p}: image file not found; restore it or remove its row from the CSV") from None
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
        if data[:4] in TIFF_MAGIC:
            digest.update(f"tiff-decoding-{TIFF_DECODING}".encode())
        if has_transparency(data):
            digest.update(f"alpha-decoding-{ALPHA_DECODING}".encode())
    return digest.hexdigest()


VERIFIED: dict[tuple, bool] = {}  # (file, size, mtime) -> checked against its sha256 in this process


def read_entry(entry: Path) -> np.ndarray | None:
    """A complete cache entry whose images match the sha256 written with them, as a read-only memmap;
    None (with a warning when something is there) otherwise."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        images = np.load(entry / "images.npy", mmap_mode="r")
        stat = (entry / "images.npy").stat()
    except (OSError, ValueError, KeyError):
        return None
    token = (str(entry), stat.st_size, stat.st_mtime_ns)
    if "sha256" not in meta:  # written before caches carried a checksum: rebuild it, nothing is wrong
        return None
    if token not in VERIFIED:
        VERIFIED[token] = list(images.shape) == meta.get("shape") and sha256_file(entry / "images.npy") == meta.get(
            "sha256"
        )
        if not VERIFIED[token]:
            warnings.warn(
                f"{entry}: the image cache does not match its checksum; rebuilding it", CacheWarning, stacklevel=2
            )
    return images if VERIFIED[token] else None


def fill_entry(out: np.ndarray, paths: list[str], spec: Preprocess, workers: int, progress: bool) -> None:
    """Decode images 1.. into out (image 0 is there and sets the shape); mixed sizes with no size set are
    resized to the first image's."""
    first = out[0]

    def fill(i: int) -> None:
        image = preprocess_image(paths[i], spec)
        if image.shape != first.shape:
            image = cv2.resize(image, (first.shape[1], first.shape[0]), interpolation=cv2.INTER_AREA)
            image = image.reshape(first.shape)
        out[i] = image

    # OpenCV and PIL release the GIL while decoding, so threads use every core
    with (
        ThreadPoolExecutor(workers) as pool,
        tqdm(
            total=len(paths),
            initial=1,
            desc=f"caching {len(paths)} images",
            unit="img",
            leave=False,
            disable=None if progress else True,
        ) as bar,
    ):
        for _ in pool.map(fill, range(1, len(paths)), chunksize=64):
            bar.update()


def write_entry(entry: Path, paths: list[str], spec: Preprocess, workers: int, progress: bool) -> None:
    first = preprocess_image(paths[0], spec)
    staging = staging_folder(entry.parent, entry.name)
    try:
        out = np.lib.format.open_memmap(
            staging / "images.npy", mode="w+", dtype=np.uint8, shape=(len(paths),) + first.shape
        )
        reserve(staging / "images.npy", entry)
        out[0] = first
        fill_entry(out, paths, spec, workers, progress)
        out.flush()
        del out  # let the memmap go (and its file close) before the file is hashed and renamed
        meta = {
            "shape": [len(paths), *first.shape],
            "preprocess": asdict(spec),
            "count": len(paths),
            "sha256": sha256_file(staging / "images.npy"),
        }
        (staging / "meta.json").write_text(json.dumps(meta))
        try:
            staging.rename(entry)
        except OSError:
            if read_entry(entry) is None:  # not a concurrent writer who finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_images(paths, workers: int | None = None) -> tuple[Counter, list[str]]:
    """Decode every image (one at a time per thread, so memory stays bounded): the (width, height) sizes
    found, and a message for each file that does not decode."""
    sizes: Counter = Counter()
    problems: list[str] = []

    def one(path: str) -> None:
        try:
            image = decode_image(path, 3)
            sizes[(image.shape[1], image.shape[0])] += 1
        except DataError as exc:
            problems.append(str(exc))

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        list(pool.map(one, [str(p) for p in paths], chunksize=64))
    return sizes, problems


def reserve(path: Path, entry: Path) -> None:
    """Allocate the whole memory-mapped file now: a disk that cannot hold it is an error naming the folder,
    not a SIGBUS in the middle of writing pixels."""
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(entry, needed=size) from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without fallocate
                raise


def cached_images(
    paths, spec: Preprocess, cache_dir: str | Path, workers: int | None = None, progress: bool = True
) -> np.ndarray:
    """N x H x W x C uint8 array (memory-mapped) for `paths`, built once per content + spec."""
    return open_cache(paths, spec, cache_dir, workers, progress)[0]


SIZE_SAMPLE = 64  # headers read to tell one size from mixed sizes; every header is read only when mixed
HEADER_SIZES: dict[tuple, tuple[int, int]] = {}  # (file, size, mtime) -> (height, width) shown, in this process


def shown_size(path: str, crop: str) -> tuple[int, int]:
    """(height, width) of an image as cropped (crop "none" or "center"), from its header, EXIF orientation
    applied; memoised while the file's size and mtime stay the same."""
    stat = os.stat(path)
    token = (path, stat.st_size, stat.st_mtime_ns)
    if token not in HEADER_SIZES:
        width, height, _, _ = image_header(path)
        HEADER_SIZES[token] = (height, width)
    height, width = HEADER_SIZES[token]
    return (min(height, width),) * 2 if crop == "center" else (height, width)


def training_size(paths, crop: str = "none") -> tuple[int, int] | None:
    """The (height, width) a split of mixed image sizes is cached at when the spec sets no size: the median
    height and width of all of them (as cropped), whatever their order. None when a sample of SIZE_SAMPLE
    spread over the rows (the first row among them) has one size: each image keeps its own, the rare other
    size resized to it, and the cache keys of such splits stand. A crop in source pixels gives one size;
    crop "face" is refused without a size (each face box has its own). Before, the first image's size was
    every image's: a thumbnail in the first row trained the whole competition at thumbnail size, and a
    budget's subsample, whose first row is another image, trained at another size than the full run."""
    if crop not in ("none", "center"):
        return None
    paths = [str(p) for p in paths]
    if not paths:
        return None
    spread = np.unique(np.linspace(0, len(paths) - 1, num=min(SIZE_SAMPLE, len(paths))).round().astype(int))
    if len({shown_size(paths[i], crop) for i in spread}) == 1:
        return None
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        sizes = np.array(list(pool.map(lambda p: shown_size(p, crop), paths, chunksize=64)))
    height, width = np.median(sizes, axis=0).round().astype(int)
    return int(height), int(width)


def sized_like(spec: Preprocess, paths, size: tuple[int, int]) -> Preprocess:
    """The spec that caches `paths` at `size`, the size another split (train) was cached at. With no size set,
    each split is resized to its own first image's size, so eval images of another size than train's were
    scored at that other size without a word. The spec is returned as it is when it already gives that size,
    so the cache keys of splits that agree stand."""
    if spec.size is not None or preprocess_image(list(paths)[0], spec).shape[:2] == tuple(size):
        return spec
    height, width = size
    return replace(spec, size=(int(height), int(width)))


def open_cache(
    paths, spec: Preprocess, cache_dir: str | Path, workers: int | None = None, progress: bool = True
) -> tuple[np.ndarray, str]:
    """(images, key): the cache array and its content key (a data fingerprint).

    A missing entry is built with `workers` decoding threads (default: every core), with a
    progress bar on a terminal (`progress=False` turns it off).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise DataError("cannot cache an empty split: the image list is empty")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    clear_stale(cache_dir)
    entry = cache_dir / cache_key(paths, spec)
    images = read_entry(entry)
    if images is None:
        if entry.exists():  # incomplete or corrupt: set it aside (a reader may still map it), then rebuild
            entry.rename(staging_folder(cache_dir, f"{entry.name}.damaged"))
        write_entry(entry, paths, spec, workers or os.cpu_count() or 1, progress)
        images = read_entry(entry)
        if images is None:
            raise DataError(
                f"{entry}: the image cache just written cannot be read back; check the disk, or "
                "choose another --cache-dir"
            )
    return images, entry.name
