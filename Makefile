# lambdaguard — the commands a newcomer and CI run. Each target makes its own
# virtual environment, so a fresh machine needs only CPython 3.11+ and make.

# The newest CPython 3.11+ on PATH (python3.13, 3.12, 3.11, then python3), or
# the one you name: make PYTHON=/path/to/python3.12 demo. scripts/find-python
# says which candidates it tried and why none fits. Expanded only by recipes
# that make an environment.
PYTHON ?= $(shell sh scripts/find-python)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Reproducible installs: every environment installs under a lock made by
# `uv pip compile` (see `make lock`), so CI tests the versions that were tested.
DEV_LOCK   := constraints/dev.txt
BENCH_LOCK := constraints/bench.txt
UV_VERSION := 0.13.8
TOOLS_VENV := build/tools-venv

# `layer/` and `collector/` are folders too: without .PHONY, make would think
# those targets are always up to date.
.PHONY: demo test lint unit integration layer bench bench-quick clean venv shell lock lock-upgrade test-async test-crt

$(STAMP): pyproject.toml $(DEV_LOCK)
	@[ -n "$(PYTHON)" ] || exit 1
	@echo "making $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1)) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(DEV_LOCK) -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## demo: the main job on the embedded default (SQLite, moto, a local Lambda runtime).
# It builds only the layer zip this machine runs (the full matrix is `make layer`).
demo: $(STAMP)
	$(BIN)/python -m lambdaguard.local.demo

## shell: a shell with the environment's `lambdaguard` (and python, pytest) first on PATH
shell: $(STAMP)
	@echo "lambdaguard $$($(BIN)/lambdaguard --version | cut -d' ' -f2) is on PATH in this shell; 'exit' leaves it."
	@VIRTUAL_ENV="$(CURDIR)/$(VENV)" PATH="$(CURDIR)/$(BIN):$$PATH" $${SHELL:-/bin/sh}

## test: lint, type-check and run every test
# The async AWS clients pin their own botocore, so their agent tests run last, each in
# its own environment (test-async); the dev environment skips them.
test: lint $(STAMP)
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory test-async
	$(MAKE) --no-print-directory test-crt

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples layer
	$(BIN)/ruff format --check src tests bench examples layer
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q --ignore=tests/integration

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

## test-crt: the agent's tests with awscrt installed, in a venv of their own. With awscrt,
## botocore signs every request with the CRT's signers and boto3 can move S3 transfers through the
## CRT transfer manager; the dev venv keeps botocore's default (AWS Lambda's runtime has no awscrt).
CRT_VENV := build/crt
$(CRT_VENV)/.installed: pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(CRT_VENV)
	$(CRT_VENV)/bin/pip install --quiet -c $(DEV_LOCK) -e '.[dev,crt]'
	touch $@

test-crt: $(CRT_VENV)/.installed
	@echo "== agent tests with awscrt"
	$(CRT_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/agent

## test-async: the agent's tests with each async AWS client, each in its own venv, because each
## pins botocore (pyproject's async-* extras); in the dev venv those tests are skipped
ASYNC_CLIENTS := aiobotocore aioboto3
test-async: $(STAMP)
	@for client in $(ASYNC_CLIENTS); do \
	  venv=build/async-$$client; \
	  [ $$venv/.installed -nt pyproject.toml ] || { $(PYTHON) -m venv $$venv && \
	    $$venv/bin/pip install --quiet -e ".[local,async-$$client]" pytest pytest-timeout hypothesis \
	      httpx opensearch-py requests-aws4auth opentelemetry-proto && touch $$venv/.installed; } && \
	  echo "== agent tests with $$client" && \
	  $$venv/bin/python -m pytest -q tests/agent/test_aiobotocore.py tests/agent/test_lambda_runtime_clients.py \
	    tests/agent/test_failopen.py || exit 1; \
	done

## layer: the layer zips, one per Python runtime and architecture, in dist/layer/
layer: $(STAMP)
	$(BIN)/python layer/build.py

## lock: refresh constraints/*.txt after a change to pyproject.toml's dependencies,
# keeping every pin that still fits; lock-upgrade moves every pin to the newest release.
$(TOOLS_VENV)/bin/uv:
	@[ -n "$(PYTHON)" ] || exit 1
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet 'uv==$(UV_VERSION)'

UV_COMPILE = $(TOOLS_VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--custom-compile-command 'make lock' --quiet

lock: $(TOOLS_VENV)/bin/uv
	$(UV_COMPILE) $(LOCK_FLAGS) --extra dev --extra crt -o $(DEV_LOCK)
	$(UV_COMPILE) $(LOCK_FLAGS) --extra bench -o $(BENCH_LOCK)
	@echo "wrote $(DEV_LOCK) and $(BENCH_LOCK); commit them with the pyproject.toml change"

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

## bench: budgets measured side by side with the peers; prints tables
# The peers (OTel aws-lambda + botocore instrumentation) pin an SDK a patch
# behind the dev venv's, so they live in their own venv (see the bench extra).
BENCH_VENV := build/bench-venv
bench: $(STAMP) layer
	@[ $(BENCH_VENV)/.installed -nt $(BENCH_LOCK) -a $(BENCH_VENV)/.installed -nt pyproject.toml ] || { $(PYTHON) -m venv $(BENCH_VENV) && \
	  $(BENCH_VENV)/bin/pip install --quiet -c $(BENCH_LOCK) -e '.[bench]' && touch $(BENCH_VENV)/.installed; }
	$(BENCH_VENV)/bin/python bench/run.py

bench-quick: $(STAMP) layer
	@[ $(BENCH_VENV)/.installed -nt $(BENCH_LOCK) -a $(BENCH_VENV)/.installed -nt pyproject.toml ] || { $(PYTHON) -m venv $(BENCH_VENV) && \
	  $(BENCH_VENV)/bin/pip install --quiet -c $(BENCH_LOCK) -e '.[bench]' && touch $(BENCH_VENV)/.installed; }
	$(BENCH_VENV)/bin/python bench/run.py --quick

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache out
