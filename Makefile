# Two commands that work on a fresh clone: `make demo` and `make test`.
# Each creates its own virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo refresh-demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the demo: a Flask host app and a local dashboard server on loopback.
demo: $(STAMP)
	$(BIN)/python -m embed_middleware demo

## Run the FastAPI refresh example (token header + endpoint + refresh in plain JavaScript).
refresh-demo: $(STAMP)
	$(BIN)/python -m examples.refresh_demo --ttl 20

## Run the whole test suite, ruff and mypy. The Redis revocation tests need redis-server: installed here
## with apt-get when missing and running as root, otherwise they are skipped.
test: $(STAMP)
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "test: redis-server not found; installing it with apt-get (for the Redis revocation tests)"; \
	    (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) \
	      || echo "test: could not install redis-server; the Redis revocation tests will be skipped"; \
	  else \
	    echo "test: redis-server not found; the Redis revocation tests will be skipped (install it: sudo apt-get install redis-server)"; \
	  fi; \
	fi
	$(BIN)/ruff check embed_middleware tests examples benchmarks
	$(BIN)/ruff format --check embed_middleware tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

## Print the benchmark table (ratios measured side by side in one run). The end-to-end rows need
## wrk: installed here with apt-get when missing and running as root, otherwise they print "skipped".
bench: $(STAMP)
	@if ! command -v wrk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench: wrk not found; installing it with apt-get (for the end-to-end rows)"; \
	    (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) \
	      || echo "bench: could not install wrk; the end-to-end rows will be skipped"; \
	  else \
	    echo "bench: wrk not found; the end-to-end rows will be skipped (install it: sudo apt-get install wrk)"; \
	  fi; \
	fi
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
