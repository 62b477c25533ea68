# Everything the project needs is installed from its own files into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test fault lint typecheck docs check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## dev: run the whole system locally (embedded broker, simulator, service, sample traffic)
dev: $(STAMP)
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
