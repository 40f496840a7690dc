# One entry point for people and CI. `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck unit demo bench e2e-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,e2e]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check bot blocks tests bench
	$(BIN)/ruff format --check bot blocks tests bench

typecheck: $(STAMP)
	$(BIN)/mypy bot blocks

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/syncbot demo

bench: $(STAMP)
	$(BIN)/python bench/poll.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
