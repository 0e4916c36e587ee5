# Commands that work on a fresh clone: `make demo`, `make check` (the fast lane) and `make test` (everything).
# Each creates its own virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
DOCS_STAMP := $(VENV)/.installed-docs
DIST_STAMP := $(VENV)/.installed-dist

.PHONY: demo refresh-demo check test bench lint clean docs dist

# The development tools are PEP 735 dependency groups in pyproject.toml, installed with pip's own
# `--group` (pip >= 25.1). A fresh machine needs only python3: the venv's pip is upgraded first, so
# whatever pip ensurepip bundled is enough, and no second installer (uv) has to be bootstrapped.
$(VENV)/.pip:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	touch $@

$(STAMP): pyproject.toml $(VENV)/.pip
	$(BIN)/python -m pip install --quiet -e . --group test --group lint
	touch $(STAMP)

# `make docs` alone installs only MkDocs (and the package, which the options page is generated from).
$(DOCS_STAMP): pyproject.toml $(VENV)/.pip
	$(BIN)/python -m pip install --quiet -e . --group docs
	touch $(DOCS_STAMP)

$(DIST_STAMP): pyproject.toml $(VENV)/.pip
	$(BIN)/python -m pip install --quiet --group dist
	touch $(DIST_STAMP)

## Run the demo: a Flask host app and a local dashboard server on loopback.
demo: $(STAMP)
	$(BIN)/python -m embed_middleware demo

## Run the FastAPI refresh example (token header + endpoint + refresh in plain JavaScript).
refresh-demo: $(STAMP)
	$(BIN)/python -m examples.refresh_demo --ttl 20

## The fast lane, well under a minute: ruff, mypy and every test that starts no real server, process or
## browser (marker `system`, everything under tests/system) and takes under a second (marker `slow`),
## with hypothesis's `fast` profile (fewer examples). `make test` still runs everything.
check: $(STAMP)
	$(BIN)/ruff check embed_middleware tests examples benchmarks
	$(BIN)/ruff format --check embed_middleware tests examples benchmarks
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -m "not system and not slow" -q

## Run the whole test suite, ruff and mypy. The Redis revocation tests need redis-server, the browser
## tests Debian's Chromium and the shared-cache tests Debian's nginx (run with its own config and ports; a
## system nginx the package may start on port 80 is never used): installed here with apt-get when missing
## and running as root, otherwise skipped.
test: $(STAMP)
	@sh scripts/ensure-package.sh redis-server redis-server "the Redis revocation tests"
	@sh scripts/ensure-package.sh /usr/bin/chromium chromium "the browser tests"
	@sh scripts/ensure-package.sh /usr/sbin/nginx nginx "the nginx cache tests"
	$(BIN)/ruff check embed_middleware tests examples benchmarks
	$(BIN)/ruff format --check embed_middleware tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

## Run the test suite against the oldest and newest supported PyJWT, Werkzeug and asgiref, on Python 3.11
## and the newest Python found, each in its own venv under .venv-matrix; the table goes to build/matrix.txt.
.PHONY: matrix
matrix:
	@sh scripts/ensure-package.sh redis-server redis-server "the Redis revocation tests"
	@sh scripts/ensure-package.sh /usr/bin/chromium chromium "the browser tests"
	$(PYTHON) scripts/matrix.py

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

## Print the benchmark table (ratios measured side by side in one run; progress on stderr, about ten
## minutes), and write it to build/bench.md and as a chart to docs/bench.png (the docs'). The
## end-to-end rows need wrk, the browser row Debian's Chromium (/usr/bin/chromium, driven by
## Playwright): each installed here with apt-get when missing and running as root, otherwise those
## rows print "skipped". One group only: .venv/bin/python -m benchmarks --only inprocess [--quick].
bench: $(BENCH_STAMP)
	@sh scripts/ensure-package.sh wrk wrk "the end-to-end rows"
	@sh scripts/ensure-package.sh /usr/bin/chromium chromium "the browser row"
	$(BIN)/python -m benchmarks

## The interop suite against a real Apache Superset: sets up .venv-superset from
## scripts/superset/requirements.lock with uv, the embedded SDK with npm ci and the metadata DB
## (cached in .cache/superset per Superset version), then runs tests/system/interop (never skipped here).
.PHONY: interop superset-demo
interop: $(STAMP)
	@sh scripts/ensure-package.sh /usr/bin/chromium chromium "the Superset browser tests"
	$(BIN)/python -m examples.superset_stack
	EMBED_INTEROP=1 $(BIN)/python -m pytest tests/system/interop

## Superset with a dashboard, and a host app (wrapped by the middleware) embedding it for two tenants.
superset-demo: $(STAMP)
	$(BIN)/python -m examples.superset_demo

## Run the compatibility matrix: every framework under every server it runs on, real processes on
## loopback (tests/system/compat). Its frameworks and servers are pinned in
## tests/system/compat/requirements.txt and installed with uv into .venv-compat; the table goes to build/compat.md and the docs site's
## "Servers and frameworks" page (docs/servers.md).
.PHONY: compat
compat: $(STAMP)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv
	$(BIN)/python scripts/compat.py

## Build the documentation site into build/site. --strict turns every MkDocs warning into a failure,
## a link to a page or an anchor that does not exist included.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

## Build the sdist and wheel into build/dist, check them with twine, then install the wheel into a fresh
## venv in a temporary directory and smoke-test it from there (scripts/dist_check.py), away from the
## checkout, so nothing can be imported from the source tree by accident.
dist: $(DIST_STAMP)
	rm -rf build/dist
	$(BIN)/python -m build --outdir build/dist .
	$(BIN)/python -m twine check --strict build/dist/*
	$(BIN)/python scripts/dist_check.py build/dist

clean:
	rm -rf $(VENV) .venv-matrix .venv-superset .venv-compat .cache/superset build .pytest_cache .mypy_cache .ruff_cache .hypothesis
