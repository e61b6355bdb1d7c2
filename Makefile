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

.PHONY: setup book test unit nbval lint bench browser-setup clean FORCE

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

# The execution cache does not see which cohort is analysed: start afresh when it changes.
_build/.cohort-source: FORCE
	@mkdir -p _build
	@if [ "$$(cat $@ 2>/dev/null)" != "cohort=$(COHORT_ABS)" ]; then \
	  rm -rf _build/.jupyter_cache _build/html _build/jupyter_execute; echo "cohort=$(COHORT_ABS)" > $@; fi
FORCE:

# Notebooks are executed on every core first (into the build's execution cache); the build then renders.
book: $(STAMP) _build/.cohort-source
	$(BIN)/python _ext/execute_parallel.py
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Book: $(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests notebooks benchmarks

unit: $(STAMP)
	$(BIN)/pytest -q tests --ignore=tests/book

nbval: $(STAMP)
	$(BIN)/pytest -q --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg

test: lint unit nbval book browser-setup
	$(BIN)/pytest -q tests/book

# Headless Chromium for the browser checks (Debian package; the checks skip with a message if it cannot be had).
browser-setup:
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "warning: Chromium could not be installed; the browser checks will be skipped"

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build data/derived
