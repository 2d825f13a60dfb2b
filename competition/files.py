"""Layer 1. Publishing files and folders whole or not at all, checking them on read,
and clearing what a killed process left behind.

Every temporary name carries its writer's process id (`.<name>.pid<pid>.<random>`),
so `clear_stale` can tell an abandoned temporary (its process is gone, or it is
older than an hour) from one being written right now.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Callable

from .errors import CompetitionError, ConfigError

STALE_SECONDS = 3600


def default_file_mode() -> int:
    """What open() would give a new file under the current umask (mkstemp's files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = default_file_mode()


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call write(tmp) on a fresh temporary file beside `path`, fsync it, then rename it onto `path`.

    Readers see the old file or the new one, never a partial one; a crash leaves at most
    a hidden temporary, which clear_stale removes later. The temporary keeps the suffix
    of `path` (numpy's savez and others choose the format by it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        if disk_full(exc, path):
            raise DiskFullError(path, tmp.stat().st_size if tmp.exists() else 0) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def free_bytes(path: Path) -> int:
    try:
        stat = os.statvfs(path if path.is_dir() else path.parent)
    except OSError:
        return 0
    return stat.f_bavail * stat.f_frsize


def disk_full(exc: BaseException, path: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # torch's writer hides the errno ("[enforce fail at inline_container.cc] ... file write failed")
    return isinstance(exc, RuntimeError) and "write failed" in str(exc) and free_bytes(path) < (64 << 20)


def human_bytes(count: float) -> str:
    if count < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024 or unit == "GiB":
            break
    return f"{count:.1f} {unit}"


class DiskFullError(CompetitionError, OSError):
    """No space left to write a file; nothing was published."""

    def __init__(self, path: Path, written: int = 0, needed: int = 0):
        free = free_bytes(Path(path))
        super().__init__(
            errno.ENOSPC,
            f"{path}: no space left on the device ({human_bytes(free)} free"
            + (f", {human_bytes(needed)} needed" if needed else "")
            + (f", {human_bytes(written)} were written before it filled" if written else "")
            + "); free space there or choose another folder. Nothing was replaced",
        )

    def __str__(self) -> str:
        return self.strerror or ""


def writable_folder(path: str | Path, what: str, how_to_change: str) -> Path:
    """Create `path` if needed and prove it takes a file; a clear error naming it otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".probe.pid{os.getpid()}.", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot use it as the {what} ({exc.strerror or type(exc).__name__}); {how_to_change}"
        ) from None
    return path


SEPARATORS = re.compile(r"[/\\\x00]+")


def check_folder_name(name: str, what: str) -> str:
    """A run's name is the name of its report folder (reports/runs/<name>/), which is replaced whole when the
    run is reported again: a name with a path separator, or '.' or '..', would put that folder elsewhere
    (an absolute name anywhere on disk; '..' is reports/ itself) and replace what was there."""
    if SEPARATORS.search(name) or name in (".", ".."):
        instead = SEPARATORS.sub("-", name).strip(".-") or "my-run"
        raise ConfigError(
            f"{what}={name!r}: a name is the name of its report folder, so it may hold no '/', '\\' or NUL "
            f"and may not be '.' or '..' (the folder would land elsewhere, replacing what is there); "
            f"e.g. {instead!r}"
        )
    return name


def composed(text: str) -> str:
    """Unicode's composed form (NFC). macOS writes file names decomposed (NFD), so a Korean or accented name
    unzipped from a Mac is another string than the same name typed into a CSV, though both print alike."""
    return unicodedata.normalize("NFC", text)


def staging_folder(parent: Path, name: str) -> Path:
    """A fresh hidden folder in `parent` to fill, then publish with os.rename onto a fresh name."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.pid{os.getpid()}.", dir=parent))


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
CHECKPOINT_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime) -> sha256, while the file stays as it is


def is_checkpoint(pretrained) -> bool:
    """Whether a `pretrained` value names a checkpoint file rather than weights a model knows by name."""
    return isinstance(pretrained, (str, Path)) and (
        Path(pretrained).suffix in CHECKPOINT_SUFFIXES or Path(pretrained).exists()
    )


def checkpoint_digest(path: str | Path) -> str:
    """The sha256 of a checkpoint file, memoised while its size and modification time stay the same."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: checkpoint file not found (pretrained); check the path or train first") from None
    token = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if token not in CHECKPOINT_DIGESTS:
        CHECKPOINT_DIGESTS[token] = sha256_file(Path(path))
    return CHECKPOINT_DIGESTS[token]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_pid(name: str) -> int | None:
    """The process id in a temporary's name `.<name>.pid<pid>.<random>`, or None."""
    found = re.search(r"\.pid(\d+)\.", name)
    return int(found.group(1)) if found else None


def clear_stale(folder: Path, max_age: float = STALE_SECONDS) -> list[Path]:
    """Remove hidden temporaries in `folder` whose writer is gone or that are older than max_age."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.iterdir():
        if not path.name.startswith(".") or path.name in (".", ".."):
            continue
        pid = writer_pid(path.name)
        try:
            age = now - path.lstat().st_mtime
        except FileNotFoundError:
            continue
        if (pid is not None and pid != os.getpid() and not process_alive(pid)) or age > max_age:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed
