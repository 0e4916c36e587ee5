# Two commands that work on a fresh clone: `make demo` and `make test`.
# Each creates its own virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the demo: a Flask host app and a local dashboard server on loopback.
demo: $(STAMP)
	$(BIN)/python -m examples.demo

## Run the whole test suite, ruff and mypy.
test: $(STAMP)
	$(BIN)/ruff check embed_middleware tests examples benchmarks
	$(BIN)/ruff format --check embed_middleware tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

## Print the benchmark table (ratios measured side by side in one run).
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
