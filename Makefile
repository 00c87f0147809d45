# `make wizard` and `make test` create the virtual environment themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
# What is installed, one stamp each: the wizard alone (`make wizard`, `make check`), or the wizard
# with its test extra (tests, linters, the PostgreSQL and compose binaries the tests use).
WIZARD_STAMP := $(VENV)/.installed-wizard
TEST_STAMP := $(VENV)/.installed-test

.PHONY: wizard check up test lint format bench clean venv

venv: $(TEST_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip's progress stays on: a first run downloads the dependencies, and says so.
$(WIZARD_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e .
	touch $@

# The test extra holds the wizard too, so a test environment serves `make wizard` as it is.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e '.[test]'
	touch $@ $(WIZARD_STAMP)

wizard: $(WIZARD_STAMP)
	$(BIN)/wizard setup $(ARGS)

check: $(WIZARD_STAMP)
	$(BIN)/wizard check $(ARGS)

up: $(WIZARD_STAMP)
	$(BIN)/wizard up $(ARGS)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check wizard tests
	$(BIN)/ruff format --check wizard tests
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(TEST_STAMP)
	$(BIN)/ruff format wizard tests
	$(BIN)/ruff check --fix wizard tests

bench: $(TEST_STAMP)
	$(BIN)/python tests/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
