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

# Parallel pytest workers (pytest-xdist; fixtures use free ports, per-worker temp dirs and a lock for the
# shared Asterisk root). Most of the integration time is real-time audio and waiting, so more workers than
# the 2 cores pay off (README: measured times). `make test JOBS=1`: one process, the files' order.
# With JOBS > 1 the tests marked `alone` (wall-clock figures, the cluster test) run afterwards, one at a
# time, with nothing else of the suite beside them (tests/fixtures/scheduling.py).
JOBS ?= 4
# The files that hold `alone` tests: the second run collects only them (collecting the whole suite again
# costs half a minute and more on two loaded cores).
ALONE_FILES = $(shell grep -rl --include='test_*.py' 'pytest.mark.alone' tests)

# `make test`: ruff, then mypy (config in pyproject.toml: strict on understanding, agenda, reminders),
# then pytest; any step failing fails the target.
test: setup
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
ifeq ($(JOBS),1)
	$(PY) -m pytest $(PYTEST_ARGS)
else
	@rc=0; \
	$(PY) -m pytest -n $(JOBS) --dist load --maxschedchunk 1 -m "not alone" $(PYTEST_ARGS) || rc=$$?; \
	echo "== the tests marked alone, one at a time"; \
	$(PY) -m pytest -m alone $(or $(PYTEST_ARGS),$(ALONE_FILES)) || rc2=$$?; \
	[ $$rc -eq 5 ] && [ "$${rc2:-0}" -eq 0 ] && rc=0; \
	[ "$${rc2:-0}" -eq 5 ] && rc2=0; \
	exit $$(( rc ? rc : $${rc2:-0} ))
endif

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
