# Two commands: `make book` and `make test` (both set up .venv from the lock file first).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
# COHORT=path/to/file.csv analyses a user's cohort instead of the simulation (every page says so).
COHORT ?= $(DEXMOOD_COHORT)
COHORT_ABS := $(if $(COHORT),$(abspath $(COHORT)),)
export DEXMOOD_COHORT := $(COHORT_ABS)
# PyTensor's compile cache lives with the environment it was built for (see warm_compile_cache).
export PYTENSOR_FLAGS := base_compiledir=$(CURDIR)/$(VENV)/pytensor-cache
JB_FLAGS := -W -n --keep-going

.PHONY: setup book test unit nbval lint bench study browser-setup clean pdf lock FORCE

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 is required"; exit 1; }
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2> >(grep -v "is ignored: it is neither" >&2)
	@# Warm PyTensor's compile cache: for speed only (each later process saves the mediation model's compile).
	@# No test depends on it: Monte-Carlo outputs are checked within their MCSE (tests/mc_reference/README.md),
	@# so the other rounding of a cold cache's first compile no longer fails nbval.
	$(BIN)/python -c "from dexmood import mediation; print(f'PyTensor compile cache warmed in {mediation.warm_compile_cache():.0f} s')"
	touch $@

setup: $(STAMP)

# A build never lies (issue 14, point 7), whatever state _build/ is in:
# - execute_parallel.py first compares what the outputs depend on besides the notebooks' code (the cohort
#   file's path and content, the package source and data, the lock file) with _build/.cohort-source and
#   discards every stored state made from other inputs (execution cache, Sphinx environment, HTML);
# - the pages are always rendered with a fresh Sphinx environment (`--all`), so a warning (e.g. a missing
#   glue key) fails every build, not only the first; rendering all pages costs seconds, executing is cached;
# - a failed build leaves no _build/html behind (moved to _build/html-failed), a built page whose glued
#   value is blank or missing fails the build (--check-html), and what an interrupted build left is removed
#   by the next one before it renders.
# Any target that builds from _build/ depends on _build/.cohort-source (the fingerprint check, always run).
_build/.cohort-source: FORCE
	@$(BIN)/python _ext/execute_parallel.py --prepare
FORCE:

book: $(STAMP) _build/.cohort-source
	$(BIN)/python _ext/execute_parallel.py
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . $(JB_FLAGS) --all || { $(BIN)/python _ext/execute_parallel.py --discard-html; exit 1; }
	$(BIN)/python _ext/execute_parallel.py --check-html
	@# the rebuilt site keeps offering the last whole-book PDF of `make pdf` (its download button points there)
	@if [ -f _build/pdf/book.pdf ]; then cp _build/pdf/book.pdf _build/html/book.pdf; fi
	@echo "Book: $(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests notebooks benchmarks

unit: $(STAMP)
	$(BIN)/pytest -q tests --ignore=tests/book

nbval: $(STAMP)
	$(BIN)/pytest -q --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg

# `unit` includes the shape matrix (tests/test_any_cohort.py, its 20,000-row case marked slow) and the wheel
# test; tests/book includes the build-state sequence (test_build_states.py: four `make book` runs on a copy).
test: lint unit nbval book browser-setup
	$(BIN)/pytest -q tests/book

# Headless Chromium for the browser checks (Debian package; the checks skip with a message if it cannot be had).
browser-setup:
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "warning: Chromium could not be installed; the browser checks will be skipped"
	@test -f tools/node_modules/axe-core/axe.min.js || npm ci --prefix tools --silent --no-audit --no-fund || \
	  echo "warning: axe-core (npm) could not be installed; the accessibility check will be skipped"

# The whole book as one PDF (not part of `make book`): the single-page HTML build printed by headless Chromium.
pdf: $(STAMP) _build/.cohort-source browser-setup
	$(BIN)/python _ext/execute_parallel.py
	$(BIN)/jupyter-book build . --builder singlehtml $(JB_FLAGS)
	$(BIN)/python tools/build_pdf.py
	$(BIN)/pytest -q tests/book/test_pdf.py

# Regenerate requirements.lock (exact pins with sha256 hashes, from requirements.in; existing pins are kept
# unless requirements.in asks otherwise) and environment.yml from it. Needs the package index.
LOCK_ENV := _build/lock-env
lock:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 is required"; exit 1; }
	$(PYTHON) -m venv $(LOCK_ENV)
	$(LOCK_ENV)/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_ENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.in
	$(PYTHON) tools/environment_yml.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The simulation study (notebook 08) on an engine; see docs/study.md. ADDRESS=tcp://host:8786 uses a running
# Dask scheduler; without it ENGINE=dask starts a LocalCluster of WORKERS processes.
ENGINE ?= local
WORKERS ?= 2
REPLICATES ?= 1000
BAYESIAN ?= 0
STUDY_OUT ?= data/derived/study.csv
study: $(STAMP)
	$(BIN)/python -m dexmood study --engine $(ENGINE) --workers $(WORKERS) --replicates $(REPLICATES) \
	  --bayesian $(BAYESIAN) $(if $(ADDRESS),--address $(ADDRESS),) --out $(STUDY_OUT)

clean:
	rm -rf _build data/derived
