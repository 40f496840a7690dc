# One entry point for people and CI. `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make demo` installs only the product and the sandbox (quick, nothing for tests);
# `make install`/`make test` add the test and browser tools on top.
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed
SOURCES := bot blocks sandbox/syncbot_sandbox tests bench

.PHONY: install test lint typecheck unit demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e . -e ./sandbox
	touch $(DEMO_STAMP)

# The sandbox is not an extra of the product (an extra cannot name a local folder): it is
# installed beside it, editable, in the same pip run.
$(STAMP): pyproject.toml sandbox/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,e2e]" -e ./sandbox
	touch $(STAMP) $(DEMO_STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy bot blocks sandbox/syncbot_sandbox bench

unit: $(STAMP)
	# Four workers: most tests wait on sockets and child processes, not on the 2 cores.
	$(BIN)/pytest -q -n 4

test: lint typecheck unit

demo: $(DEMO_STAMP)
	$(BIN)/syncbot-sandbox demo

# About 16 to 20 minutes on 2 cores: poll ~4-6, ack ~6, budget ~1.5, rss ~0.5, bulk ~6.
bench: $(DEMO_STAMP)
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/ack.py
	$(BIN)/python bench/budget.py
	$(BIN)/python bench/rss.py
	$(BIN)/python bench/bulk.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
