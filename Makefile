# Standardiste: `make run` starts the demo practice, `make test` runs the whole test suite.
# Both install whatever is missing first (Debian packages, the Asterisk root, the venv).
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/standardiste
VENV := $(CACHE)/venv
PY := $(VENV)/bin/python
export STANDARDISTE_CACHE := $(CACHE)

.PHONY: setup run test lint typecheck bench clean

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/standardiste run $(if $(CONFIG),--config $(CONFIG),)

# Parallel pytest workers (pytest-xdist): `make test JOBS=2`. Fixtures use free ports, per-worker temp
# dirs and a lock for the shared Asterisk root; off by default until the whole suite is proven stable
# in parallel on the 2-core machine.
JOBS ?= 1

# `make test`: ruff, then mypy (config in pyproject.toml: strict on understanding, agenda, reminders),
# then pytest; any step failing fails the target.
test: setup
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
	$(PY) -m pytest $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist worksteal,) $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy

typecheck: setup
	$(PY) -m mypy

bench: setup
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
