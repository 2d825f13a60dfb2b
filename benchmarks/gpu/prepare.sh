#!/usr/bin/env bash
# Here, before a device run: what the device machine lacks, into .gpu/ (ignored by git; the device tool
# carries it: carry [".gpu"]). Its python3 is 3.12 with torch, timm, pandas, scikit-learn and opencv
# (/work/.library/device/KINDS.md) but not pydantic or albumentations, and it reaches no network, so
# the fashion files travel too. About 38 MB of the 64 MiB a device call may carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu && mkdir -p .gpu/wheels .gpu/fashion

# the versions this project pins (constraints.txt), as wheels for the device's Python
pins=$(grep -iE '^(pydantic|pydantic_core|annotated-types|typing-inspection|typing_extensions|albumentations|albucore|stringzilla|simsimd)==' constraints.txt)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/wheels $pins

# the four raw Fashion-MNIST files, gzipped (competition.data reads .gz and verifies their checksums)
.venv/bin/python - <<'PY'
import gzip
from pathlib import Path

from competition.data.builtin import fetch_fashion_raw

for name, data in fetch_fashion_raw().items():
    Path(".gpu/fashion", f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=6))
PY
du -sh .gpu .gpu/wheels .gpu/fashion
