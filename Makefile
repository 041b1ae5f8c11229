# `make example` sets up and compiles the embedded example (no cluster needed).
# `make test` sets up and runs every check CI runs: lint, types, layering, tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup example test chart bench crds

$(BIN)/translator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/translator

example: setup
	$(BIN)/translator compile

HELM := .tools/helm
CHART := charts/translator

$(HELM):
	$(BIN)/python tests/tools/get_helm.py $@

# helm lint --strict, and every object `helm template` renders (CRDs included) validated by
# kubernetes-validate --strict, with the default values and with non-default ones.
chart: setup $(HELM)
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/full-values.yaml
	$(HELM) template t $(CHART) --namespace translator-system --include-crds > .tools/chart-default.yaml
	$(BIN)/kubernetes-validate --strict --quiet .tools/chart-default.yaml
	$(HELM) template t $(CHART) --namespace translator-system --include-crds \
		-f $(CHART)/ci/full-values.yaml > .tools/chart-full.yaml
	$(BIN)/kubernetes-validate --strict --quiet .tools/chart-full.yaml

test: setup chart
	$(BIN)/ruff check translator tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/compile.py
	$(BIN)/python benchmarks/controller.py
	$(BIN)/python benchmarks/cache_policy.py

crds: setup
	UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/api/test_crds.py
	cp crds/*.yaml $(CHART)/crds/
