# Every target creates .venv from pyproject.toml (pinned by requirements.lock) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (Playwright's own download needs the internet).
CHROMIUM := /usr/bin/chromium
export OFHQ_HOME ?= $(CURDIR)/.ofhq
export DAGSTER_HOME ?= $(OFHQ_HOME)/dagster

.PHONY: demo test test-slow browser bench dev lint fmt clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(CHROMIUM):
	deploy/install-chromium

browser: $(CHROMIUM)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/ofhq demo

# Tests are isolated (each its own files, databases and ports), so they run on every core's worth
# of workers: TEST_WORKERS=1 runs them in one process.
TEST_WORKERS ?= 2

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check ofhq_pipeline ofhq_pipeline_tests bench
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS)

# Whole syncs of the simulated agency, the real-time daemon, the `ofhq` commands: CI's second step.
test-slow: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -m slow

bench: $(STAMP)
	$(BIN)/python -m bench.run

dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

lint: $(STAMP)
	$(BIN)/ruff check ofhq_pipeline ofhq_pipeline_tests bench

fmt: $(STAMP)
	$(BIN)/ruff format ofhq_pipeline ofhq_pipeline_tests bench
	$(BIN)/ruff check --fix ofhq_pipeline ofhq_pipeline_tests bench

clean:
	rm -rf $(VENV) .ofhq .pytest_cache
