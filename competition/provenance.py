"""Layer 1. Provenance: what made a number and what it was measured on.

The code fingerprint and library versions enter every store key (store.Store.key); the environment
(libraries, Python, CPU model and ISA flags, torch threads, git commit) is stamped on every history row,
tracker run and benchmark figure, because speed and the last bits of a result depend on it.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from .memory import heap_setting

LIBRARIES = ("torch", "torchvision", "timm", "albumentations", "numpy", "scikit-learn", "opencv-python-headless")
# Modules that only judge, report or publish what was stored: editing them must not retrain anything.
# Every other module of the package (a new one included) is part of every key.
OUTSIDE_THE_KEY = (
    "report.py",
    "html_report.py",
    "tracking.py",
    "gates.py",
    "submission.py",
    "scoring.py",
    "cli.py",
    "__main__.py",
    "pytest_plugin.py",
    "recipes.py",
    "guards.py",
    "scaffold.py",
    "commands.py",
    "calibration.py",
    "baselines.py",
)


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the package's source that trains, predicts, post-processes or ensembles: every module but
    those in OUTSIDE_THE_KEY (found by walking the package, so a new module is in by default)."""
    package = Path(__file__).parent  # the competition package
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if str(relative) in OUTSIDE_THE_KEY:
            continue
        digest.update(str(relative).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def environment() -> dict:
    """What a run was measured on: library versions, Python, CPU model, torch threads, git commit."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cpu, isa = cpu_model_and_isa()
    return {
        "libraries": library_versions(),
        "python": platform.python_version(),
        "cpu": cpu,
        "isa": isa,
        "threads": torch.get_num_threads(),
        "heap": heap_setting(),
        "commit": commit,
    }


def cpu_model_and_isa() -> tuple[str, str]:
    """The CPU model and the vector and matrix extensions that decide a path's speed (avx2, avx512*, amx*)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor(), ""
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor()
    )
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return model, " ".join(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
