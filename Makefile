# Two commands for a newcomer: `make book` and `make test`. Each creates the environment it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= python3
# Use the local data mirror beside the checkout when there is one (CI has ../shared/data);
# otherwise course_lib downloads into its cache on first use.
COURSE_LIB_DATA ?= $(if $(wildcard ../shared/data/README.md),$(abspath ../shared/data),)
export COURSE_LIB_DATA
# Two cores on the reference machine: do not let torch oversubscribe them.
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: env book test lint lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

env: $(STAMP)

lint: env
	$(VENV)/bin/ruff check .

test: env lint
	$(PY) -m pytest

book: env
	rm -rf _build/html
	$(VENV)/bin/jupyter-book build . -W --keep-going

# Regenerate the pinned lock from pyproject's ranges (torch stays at the CPU wheel 2.13.0).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q --upgrade pip
	.lockenv/bin/pip install -q torch==2.13.0 -e ".[datasets,book,dev]"
	.lockenv/bin/pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu/torch==\1/' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf _build .pytest_cache .ruff_cache
