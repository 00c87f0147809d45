# `make wizard` and `make test` create the virtual environment themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: wizard check up test lint format bench clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

wizard: venv
	$(BIN)/wizard setup $(ARGS)

check: venv
	$(BIN)/wizard check $(ARGS)

up: venv
	$(BIN)/wizard up $(ARGS)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check wizard tests
	$(BIN)/ruff format --check wizard tests
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format wizard tests
	$(BIN)/ruff check --fix wizard tests

bench: venv
	$(BIN)/python tests/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
