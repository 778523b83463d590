# The README's commands. Everything runs from a project-local virtualenv (.venv) and keeps its state in .qcmdb/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export QUALYS_CMDB_HOME := $(CURDIR)/.qcmdb

.PHONY: demo test lint format bench clean install

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: install  ## start embedded Postgres + Qualys simulator, run the main job, print a summary
	$(BIN)/python scripts/demo.py

test: install  ## the whole test suite (real Postgres, real HTTP, real DAG runs)
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy plugins/qualys_cmdb simulators

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python scripts/intake_throughput.py

clean:
	-$(BIN)/qcmdb embedded stop
	rm -rf .qcmdb
