# Two set-up commands, both work on a fresh machine (python3 >= 3.10 and make):
#   make run   - environment, synthetic data when no extracts are present, every asset for all G4 partitions
#   make test  - environment and the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME := $(abspath dagster_home)
export GX_ANALYTICS_ENABLED := false

.PHONY: run test ui bench purge clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	$(PY) -m wi_pipeline.run

test: $(VENV)/.installed
	$(PY) -m pytest -q

ui: $(VENV)/.installed
	$(VENV)/bin/dagster dev -w workspace.yaml

purge: $(VENV)/.installed
	$(PY) -m wi_pipeline.retention

clean:
	rm -rf data/warehouse dagster_home/storage dagster_home/artifacts dagster_home/logs
