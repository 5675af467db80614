# Standardiste: `make run` starts the demo practice, `make test` runs the whole test suite.
# Both install whatever is missing first (Debian packages, the Asterisk root, the venv).
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/standardiste
VENV := $(CACHE)/venv
PY := $(VENV)/bin/python
export STANDARDISTE_CACHE := $(CACHE)
# Python may write its bytecode caches (git ignores __pycache__): with PYTHONDONTWRITEBYTECODE set, each
# pytest process (each xdist worker) compiled src and assertion-rewrote every test module again, about two
# minutes of collection per worker on the loaded 2-core machine against 7-15 s with the caches.
unexport PYTHONDONTWRITEBYTECODE
# mypy's cache beside the venv, not in the checkout: a fresh clone (CI) checks only what changed since the
# last run on this machine (mypy compares the files' hashes), a few seconds instead of 20-25 s cold.
export MYPY_CACHE_DIR ?= $(CACHE)/mypy

.PHONY: setup run test lint typecheck bench clean

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/standardiste run $(if $(CONFIG),--config $(CONFIG),)

# Parallel pytest workers (pytest-xdist; fixtures use free ports, per-worker temp dirs and a lock for the
# shared Asterisk root). Most of the integration time is real-time audio and waiting, so more workers than
# the 2 cores pay off: with 4 workers the CPUs sat half idle while the workers waited on calls (README:
# measured times). With 6 the CPUs are saturated; tests/fixtures/scheduling.py runs batch tests (no
# real-time part) at a lower priority than the real-time ones and lets at most 4 of 6 workers hold
# real-time tests at once: 6 workers took 9 min 11 s-9 min 54 s in the parallel run, but each of three
# runs had 2 failures (different SIP audio / spoken-call tests each time), so the default stays at 4.
# `make test JOBS=1`: no xdist, the files' order.
# The tests marked `alone` (wall-clock figures) run afterwards, one at a time, with nothing else of the
# suite beside them (tests/fixtures/scheduling.py).
JOBS ?= 4
XDIST = $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist load --maxschedchunk 1,)
# `make test JUNIT=DIR`: each phase also writes a --junitxml report in DIR (parallel.xml, alone.xml) with
# each test's worker, start time and CPU seconds; `python -m tests.fixtures.scheduling DIR/*.xml` refreshes
# tests/data/test_durations.json from them.
JUNIT ?=
# The files that hold `alone` tests: the second run collects only them (collecting the whole suite again
# costs half a minute and more on two loaded cores).
ALONE_FILES = $(shell grep -rlE --include='test_*.py' '^ *(@pytest\.mark\.alone|pytestmark.*mark\.alone)' tests)

# `make test`: ruff, then mypy (config in pyproject.toml: strict on understanding, agenda, reminders),
# then pytest (the parallel phase, then the alone phase); any step failing fails the target.
test: setup
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
	$(PY) -m pytest --suite-phase parallel $(XDIST) $(if $(JUNIT),--junitxml=$(JUNIT)/parallel.xml) $(PYTEST_ARGS)
	$(PY) -m pytest --suite-phase alone $(if $(JUNIT),--junitxml=$(JUNIT)/alone.xml) $(or $(PYTEST_ARGS),$(ALONE_FILES))

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
