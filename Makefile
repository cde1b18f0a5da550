# newsflow: `make run` starts everything, `make test` runs every test tier.
# Needs only python3 (3.11+), pip and make: uv is installed into .tools/ if missing.

PYTHON ?= python3
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PROJECT_ENVIRONMENT ?= .venv

.PHONY: run test lint format sync clean bench

.tools/bin/uv:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools uv

sync: $(UV)
	$(UV) sync --frozen --all-extras

run: sync
	$(UV) run --frozen --all-extras newsflow up

test: sync
	$(UV) run --frozen --all-extras pytest

lint: sync
	$(UV) run --frozen --all-extras ruff check .
	$(UV) run --frozen --all-extras ruff format --check .
	$(UV) run --frozen --all-extras mypy

# The whole pipeline against its limit, in a few minutes (benchmarks/pipeline.py for more).
bench: sync
	$(UV) run --frozen --all-extras python benchmarks/pipeline.py --articles 200 --rounds 3 --backlog 25000 --quick

format: sync
	$(UV) run --frozen --all-extras ruff format .
	$(UV) run --frozen --all-extras ruff check --fix .

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache
