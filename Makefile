# `make example` sets up and compiles the embedded example (no cluster needed).
# `make test` sets up and runs every check CI runs: lint, types, layering, tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup example test bench crds

$(BIN)/translator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/translator

example: setup
	$(BIN)/translator compile

test: setup
	$(BIN)/ruff check translator tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/compile.py
	$(BIN)/python benchmarks/controller.py

crds: setup
	UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/api/test_crds.py
