# Two entry points: `make experiments` (the main job) and `make test` (CI).
# Both create .venv on first use and re-install only when pyproject.toml or
# constraints.txt change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUDGET ?= standard
K ?=
PYTEST_ARGS ?=

export NO_ALBUMENTATIONS_UPDATE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install experiments test unit lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

experiments: $(STAMP)
	$(BIN)/python -m pytest experiments --budget=$(BUDGET) $(if $(K),-k "$(K)") $(PYTEST_ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest tests experiments --budget=smoke $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check competition tests experiments fixtures benchmarks
	$(BIN)/ruff format --check competition
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_train.py throughput
	$(BIN)/python benchmarks/bench_tta.py

clean:
	rm -rf $(VENV) runs reports .pytest_cache
