# The README's commands. Everything runs from a project-local virtualenv (.venv) and keeps its state in .qcmdb/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian's Chromium, driven by Playwright in the browser tests (tests/ui). `playwright install` is never used: its
# browser download does not work here.
CHROMIUM := /usr/bin/chromium
# Debian's Redis: the Celery broker of `make e2e` (started there on a free port of 127.0.0.1, stopped after).
REDIS    := /usr/bin/redis-server
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export QUALYS_CMDB_HOME := $(CURDIR)/.qcmdb

.PHONY: demo ui test e2e lint format bench clean install

install: $(STAMP) $(CHROMIUM)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

demo: install  ## start embedded Postgres + Qualys simulator, run the main job, print a summary
	$(BIN)/python scripts/demo.py

ui: install  ## Airflow's UI over the demo data on http://127.0.0.1:8080 (UI_PORT), until Ctrl-C
	$(BIN)/python scripts/ui.py

test: install  ## the whole test suite (real Postgres, real HTTP, real DAG runs)
	$(BIN)/python -m pytest

e2e: install $(REDIS)  ## the production topology natively (wheel, Postgres, Redis, CeleryExecutor, 2 workers)
	$(BIN)/python scripts/e2e.py

$(REDIS):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy plugins/qualys_cmdb simulators

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## the pipeline measured on 5,000 and 50,000 simulated assets (BENCH_ASSETS="…"); bench/results/
	$(BIN)/qcmdb bench

clean:
	-$(BIN)/qcmdb embedded stop
	rm -rf .qcmdb
