# lambdaguard — the commands a newcomer and CI run. Each target makes its own
# virtual environment, so a fresh machine needs only Python 3.11+ and make.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# `layer/` and `collector/` are folders too: without .PHONY, make would think
# those targets are always up to date.
.PHONY: demo test lint unit integration layer bench bench-quick clean venv test-async

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## demo: the main job on the embedded default (SQLite, moto, a local Lambda runtime)
demo: $(STAMP) layer
	$(BIN)/python -m lambdaguard.local.demo

## test: lint, type-check and run every test
test: lint $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples layer
	$(BIN)/ruff format --check src tests bench examples layer
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q --ignore=tests/integration

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

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

## bench: budgets measured side by side with the peers; prints tables
# The peers (OTel aws-lambda + botocore instrumentation) pin an SDK a patch
# behind the dev venv's, so they live in their own venv (see the bench extra).
BENCH_VENV := build/bench-venv
bench: $(STAMP) layer
	@[ $(BENCH_VENV)/.installed -nt pyproject.toml ] || { $(PYTHON) -m venv $(BENCH_VENV) && \
	  $(BENCH_VENV)/bin/pip install --quiet -e '.[bench]' && touch $(BENCH_VENV)/.installed; }
	$(BENCH_VENV)/bin/python bench/run.py

bench-quick: $(STAMP) layer
	@[ $(BENCH_VENV)/.installed -nt pyproject.toml ] || { $(PYTHON) -m venv $(BENCH_VENV) && \
	  $(BENCH_VENV)/bin/pip install --quiet -e '.[bench]' && touch $(BENCH_VENV)/.installed; }
	$(BENCH_VENV)/bin/python bench/run.py --quick

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache out
