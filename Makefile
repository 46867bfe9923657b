# Every target bootstraps .venv itself and is safe to run again.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.peaktrade-installed
SOURCES := src tests benchmarks examples

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast test-oldest lint typecheck imports fmt bench clean

help:
	@echo "make run    set up .venv and run the service on its embedded defaults"
	@echo "make test   set up .venv, run ruff, mypy --strict, import-linter and pytest"
	@echo "make lint   static checks only        make fmt    format the code"
	@echo "make bench  benchmarks against the libraries users would pick instead"
	@echo "make test-oldest  pytest on the oldest dependency versions pyproject.toml allows"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "peak-trade needs Python >= 3.11; run make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/peaktrade run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/pytest -m "smoke or not (slow or chaos)" -q $(PYTEST_ARGS)

# The suite on the lowest version of every runtime dependency (the >= bounds in
# pyproject.toml), in a venv of its own; the test tools resolve as usual.
OLDEST_VENV ?= .venv-oldest
test-oldest:
	@test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(OLDEST_VENV)/bin/python .ci/lowest_constraints.py pyproject.toml > $(OLDEST_VENV)/constraints.txt
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c $(OLDEST_VENV)/constraints.txt -e '.[dev]'
	$(OLDEST_VENV)/bin/python -m pip list --disable-pip-version-check 2>/dev/null \
		| grep -iE '^(numpy|pandas|pyarrow|pydantic|redis|rich|structlog|tomli.w|typer) '
	$(OLDEST_VENV)/bin/pytest $(PYTEST_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) $(OLDEST_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
