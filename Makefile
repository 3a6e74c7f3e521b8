# Two set-up commands, both work on a fresh machine (python3 >= 3.10 and make):
#   make run   - environment, synthetic data when no extracts are present, every asset for all G4 partitions
#   make test  - environment, ruff check and format check, and the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME := $(abspath dagster_home)
export GX_ANALYTICS_ENABLED := false

.PHONY: run rebuild test ui bench bench-jobs bench-national simulate purge clean browser

$(VENV)/.installed: pyproject.toml
	@echo "installing the environment into $(VENV) (once; about 80 s)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# the instance (runs, history) lives with the warehouse, in <warehouse>/dagster_home (wi_pipeline/instance.py)
run: $(VENV)/.installed
	$(PY) -m wi_pipeline.run

# after `make purge`: linkage, panel, effects and reports of every G4 municipality from the stored assets
rebuild: $(VENV)/.installed
	$(PY) -m wi_pipeline.run --rebuild

# ruff (lint, then format) first: one style, checked before the slower tests. The test files run
# in TEST_PROCESSES processes (pytest-xdist), each file whole in one of them, so a module's
# fixtures are built once; the recovery study's own process pool shares the cores with them.
TEST_PROCESSES ?= 2
test: $(VENV)/.installed browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadfile

# The UI test drives Debian's Chromium (headless); installed here when missing and we may.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium missing: install the Debian package 'chromium' to run the UI test"; fi; }

ui: $(VENV)/.installed
	@home="$$($(PY) -m wi_pipeline.instance)" && echo "Dagster instance of this warehouse: $$home" && \
	  DAGSTER_HOME="$$home" $(VENV)/bin/dagster dev -w workspace.yaml

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_pipeline.py --scale 1.0

# the same data through the pipeline's own Dagster jobs: checks, suites, reports and IO included
bench-jobs: $(VENV)/.installed
	$(PY) benchmarks/bench_pipeline.py --scale 1.0 --jobs

# national CBS tables (24 million persons; generated once into $$WI_BENCH_DIR, default data/bench-national)
# and the G4 at scale 1.0 through the Dagster jobs: CBS ingestion at 0.25x and 1x, municipality runs
bench-national: $(VENV)/.installed
	$(PY) benchmarks/bench_national.py

simulate: $(VENV)/.installed
	$(PY) -m wi_pipeline.recovery --reps 200 --scale 0.02

purge: $(VENV)/.installed
	$(PY) -m wi_pipeline.retention

clean:
	rm -rf "$${WI_WAREHOUSE_DIR:-$${WI_DATA_DIR:-data}/warehouse}" dagster_home/storage dagster_home/artifacts dagster_home/logs
