# reload-safe — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
STAMP := $(VENV)/.installed

.PHONY: help install lint test test-fast mutation tools cluster demo bench reliability audit-deps lock clean

help:
	@echo "make demo         run the seed experiment end to end against a real kube-apiserver"
	@echo "make test         lint, type-check, import contracts, and every test (builds the control plane once)"
	@echo "make test-fast    the same without the tests that need the control plane"
	@echo "make mutation     mutation testing of the policy core (mutmut); writes the score to docs/testing.md"
	@echo "make tools        build or reuse kube-apiserver, kube-controller-manager, etcd and helm, and fetch the pinned CRDs"
	@echo "make cluster      start etcd + kube-apiserver + kube-controller-manager on loopback until Ctrl-C"
	@echo "make bench        the performance benchmark (docs/performance.md)"
	@echo "make reliability  long fuzz and soak runs (docs/reliability.md)"
	@echo "make audit-deps   pip-audit of the installed dependencies (needs PyPI's vulnerability API)"
	@echo "make lock         rewrite the image's lock files from pyproject.toml (LOCK_ARGS=--upgrade to update pins)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

lint: $(STAMP)
	ruff check webhook tests bench
	ruff format --check webhook tests bench
	mypy
	lint-imports

tools:
	@bash tests/tools/build.sh
	@bash tests/tools/crds.sh

test: lint
	@bash tests/tools/build.sh >/dev/null
	@bash tests/tools/crds.sh >/dev/null
	RELOAD_SAFE_TOOLS="$$(bash tests/tools/build.sh | tail -n 1)" RELOAD_SAFE_CRDS="$$(bash tests/tools/crds.sh | tail -n 1)" pytest -q

test-fast: lint
	pytest -q -m "not e2e"

# Mutation testing of the pure core ([tool.mutmut] in pyproject.toml): slow (see docs/testing.md),
# so not part of `make test`. Starts from scratch every time, as on a fresh clone.
mutation: $(STAMP)
	rm -rf mutants
	start=$$(date +%s); mutmut run; status=$$?; end=$$(date +%s); \
	  [ $$status = 0 ] || { echo "mutmut run failed ($$status)"; exit $$status; }; \
	  python tests/tools/mutation_report.py --seconds $$((end - start))

cluster: $(STAMP)
	python -m tests.envtest

demo: $(STAMP)
	@bash tests/tools/build.sh >/dev/null
	python -m tests.demo

bench: $(STAMP)
	python -m bench

reliability: $(STAMP)
	pytest -q -m slow tests/reliability

# Fails closed: without --strict pip-audit reports a package it could not look up as clean.
audit-deps: $(STAMP)
	for try in 1 2 3; do pip-audit --strict --skip-editable --progress-spinner off --desc on && exit 0; \
	  [ $$try = 3 ] || sleep $$((try * 30)); done; echo "dependency audit failed (findings or unreachable service)"; exit 1

# The image installs only from these two files (Dockerfile), with hashes. pip-compile keeps the
# existing pins unless LOCK_ARGS=--upgrade (or --upgrade-package NAME); it resolves for the Python
# that runs it, which must be the image's (3.11). tests/unit/test_lockfile.py fails until the
# locks match pyproject.toml again.
LOCK_VENV := .venv-lock
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "make lock needs Python 3.11, as in the image")'
	[ -x $(LOCK_VENV)/bin/pip-compile ] || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet 'pip-tools==7.6.2'; }
	$(PIP_COMPILE) --output-file=requirements.lock pyproject.toml
	$(PIP_COMPILE) --allow-unsafe --build-deps-for=wheel --only-build-deps --output-file=requirements-build.lock pyproject.toml

clean:
	rm -rf $(VENV) $(LOCK_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
