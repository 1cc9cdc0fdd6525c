# finsig — `make demo` sets everything up and runs the whole graph; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin

export FINSIG_HOME ?= $(CURDIR)/.finsig
export DAGSTER_HOME ?= $(FINSIG_HOME)/dagster
export FINSIG_SENTIMENT_BACKEND ?= auto
# libgomp threads spin while idle by default; on a busy 2-core box that costs XGBoost 5x.
export OMP_WAIT_POLICY ?= PASSIVE

DEMO_FIRST_SESSION ?= 2024-06-24
DEMO_SESSIONS ?= 20
DEMO_SEED ?= 7
# 0 = prices independent of news (the honest demo: the model should find nothing);
# e.g. `make demo DEMO_NEWS_EFFECT=6 DEMO_ARTICLES=120` plants an effect the model can learn.
DEMO_NEWS_EFFECT ?= 0
DEMO_ARTICLES ?= 30
# The direction model's training window, sized to the demo's 20 sessions.
DEMO_RUN_CONFIG ?= {"ops": {"ml__direction_model": {"config": {"window_sessions": 20, "min_sessions": 8}}}}
PYTEST_ARGS ?=

.PHONY: setup demo demo-data materialize summary test ui mlflow-ui bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

demo: setup demo-data materialize summary

demo-data: setup
	$(BIN)/finsig init-instance
	$(BIN)/finsig demo-data --first-session $(DEMO_FIRST_SESSION) --sessions $(DEMO_SESSIONS) --seed $(DEMO_SEED) --force \
		--news-effect $(DEMO_NEWS_EFFECT) --articles-per-session $(DEMO_ARTICLES)

# The whole graph over the demo sessions, as one single-run backfill recorded in $$DAGSTER_HOME.
materialize: setup
	@last=$$($(BIN)/python -m finsig_assets.session_range $(DEMO_FIRST_SESSION) $(DEMO_SESSIONS)); \
	echo "materializing every asset for $(DEMO_FIRST_SESSION)...$$last"; \
	$(BIN)/dagster asset materialize -m finsig_assets.definitions --select '*' \
		--partition-range "$(DEMO_FIRST_SESSION)...$$last" --config-json '$(DEMO_RUN_CONFIG)'

summary: setup
	$(BIN)/finsig summary

test: setup
	$(BIN)/pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

ui: setup
	$(BIN)/finsig init-instance
	$(BIN)/dagster dev -m finsig_assets.definitions -h 127.0.0.1 -p 3000

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(FINSIG_HOME)/mlflow/mlflow.db}" -h 127.0.0.1 -p 5000

bench: setup
	$(BIN)/python bench/market_pipeline.py

clean:
	rm -rf $(FINSIG_HOME)
