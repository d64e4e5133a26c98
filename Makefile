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

.PHONY: env book test lint lock clean site-test pdf student-labs

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# JupyterLab opens the chapters' MyST .md files as notebooks (jupytext), not as text.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): labs/jupyterlab/overrides.json $(STAMP)
	mkdir -p $(dir $@) && cp $< $@

env: $(STAMP) $(LAB_OVERRIDES)

lint: env
	$(VENV)/bin/ruff check .

# The book shows the student version of each lab (no solutions, no hidden tests), generated from
# the masters in labs/ into the git-ignored student_labs/ that _toc.yml lists.
student-labs: env
	$(PY) -m course_lib.grading build --no-reference --out _build/assignments --site student_labs

# Tests use tiny tensors: one thread each avoids oversubscribing the two cores.
test: env lint student-labs
	OMP_NUM_THREADS=1 $(PY) -m pytest

MATHJAX_VERSION := 3.2.2
MATHJAX_SHA256 := 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
MATHJAX := _build/vendor/mathjax/tex-mml-chtml.js
BOOK_INPUTS := $(shell find course_lib -name '*.py' -not -path '*/__pycache__/*') requirements.lock pyproject.toml

# jupyter-cache re-runs a page only when its code cells change, and Sphinx re-reads only changed
# sources: drop both caches whenever course_lib or the pinned environment changes.
_build/.book-inputs.stamp: $(BOOK_INPUTS)
	rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute
	mkdir -p _build && touch $@

# MathJax served by the site itself (math works offline), from the npm registry, sha256-pinned.
$(MATHJAX):
	rm -rf _build/vendor && mkdir -p _build/vendor/npm
	cd _build/vendor/npm && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	echo "$(MATHJAX_SHA256)  _build/vendor/npm/mathjax-$(MATHJAX_VERSION).tgz" | sha256sum -c --quiet
	tar -xzf _build/vendor/npm/mathjax-$(MATHJAX_VERSION).tgz -C _build/vendor/npm
	mkdir -p _build/vendor/mathjax
	cd _build/vendor/npm/package && cp LICENSE es5/tex-mml-chtml.js ../../mathjax/ \
	  && cp -r es5/input es5/output es5/ui es5/a11y es5/adaptors es5/sre ../../mathjax/
	rm -rf _build/vendor/npm

# Pages execute BOOK_JOBS at a time (default: one per core) into the cache that jupyter-book reads
# (_ext/preexecute.py); jupyter-book then executes nothing that is cached, and anything else itself.
book: env _build/.book-inputs.stamp $(MATHJAX) student-labs
	rm -rf _build/html
	$(PY) _ext/preexecute.py
	$(VENV)/bin/jupyter-book build . -W --keep-going
	$(PY) -m course_lib.grading check-site _build/html

# The built website in headless Chromium (tests/site/): run after `make book`. Without a Chromium
# the tests skip with a message, or fail when COURSE_REQUIRE_BROWSER=1 (as in CI).
site-test: env
	OMP_NUM_THREADS=1 $(PY) -m pytest tests/site -q

# The whole book as one PDF, _build/pdf/book.pdf: the single-page HTML build (the executed notebooks
# come from the cache `make book` filled) printed by headless Chromium, then checked to parse and to
# hold a bookmark for every page of _toc.yml. See _ext/print_pdf.py for why not LaTeX or pdfhtml.
pdf: env _build/.book-inputs.stamp $(MATHJAX)
	rm -rf _build/singlehtml
	$(VENV)/bin/jupyter-book build . --builder singlehtml -W --keep-going
	$(PY) _ext/print_pdf.py _build/singlehtml _build/pdf/book.pdf

# Regenerate the pinned lock from pyproject's ranges (torch stays at the CPU wheel 2.13.0).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q --upgrade pip
	.lockenv/bin/pip install -q torch==2.13.0 -e ".[datasets,baselines,grading,book,dev]"
	.lockenv/bin/pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu/torch==\1/' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf _build .pytest_cache .ruff_cache
