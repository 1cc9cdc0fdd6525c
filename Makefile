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

DEMO_SESSIONS ?= 20
# Empty: the DEMO_SESSIONS sessions before the latest partition (the most recent history);
# the latest partition is left for `make demo-next-session`.
DEMO_LAST_SESSION ?=
DEMO_SEED ?= 7
# 0 = prices independent of news (the honest demo: the model should find nothing);
# e.g. `make demo DEMO_NEWS_EFFECT=6 DEMO_ARTICLES=120` plants an effect the model can learn.
DEMO_NEWS_EFFECT ?= 0
DEMO_ARTICLES ?= 30
# Run logs at INFO: which asset, which sessions, how far, how long -- not every Dagster event.
RUN_CONFIG ?= {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
# The CLI's own notices (beta parameters, `dg launch` supersedes this command) are not the run's progress.
QUIET_DAGSTER_WARNINGS := ignore:Function \`asset_materialize_command\` is superseded,ignore:Parameter \`include_sources\`
DEMO_FLAGS = --seed $(DEMO_SEED) --news-effect $(DEMO_NEWS_EFFECT) --articles-per-session $(DEMO_ARTICLES)
PYTEST_ARGS ?=
# `make serve`: MLflow's scoring server for the champion (`make mlflow-ui` has 5000).
SERVE_PORT ?= 5001

.PHONY: setup demo demo-data demo-next-session materialize summary test lint ui mlflow-ui serve bench clean up down

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

demo: setup demo-data materialize summary

demo-data: setup
	$(BIN)/finsig demo-data --sessions $(DEMO_SESSIONS) $(if $(DEMO_LAST_SESSION),--last-session $(DEMO_LAST_SESSION)) \
		--force --reset-home --home-settings $(DEMO_FLAGS)
	$(BIN)/finsig init-instance

# One more session lands in the landing zone, as a collector would drop it: with `make ui`
# running, the sensor and the automation carry it to ml/predictions without a click.
demo-next-session: setup
	$(BIN)/finsig demo-data --next-session $(DEMO_FLAGS)

# The whole graph over the demo sessions and the latest partition after them (the session in
# progress: empty until `make demo-next-session`, but its model is trained on the demo's last
# sessions), as one single-run backfill recorded in $$DAGSTER_HOME.
materialize: setup
	@range=$$($(BIN)/python -m finsig_assets.session_range demo) || exit 1; \
	echo "materializing every asset for $$range"; \
	PYTHONWARNINGS="$(QUIET_DAGSTER_WARNINGS)" $(BIN)/dagster asset materialize -m finsig_assets.definitions --select '*' \
		--partition-range "$$range" --config-json '$(RUN_CONFIG)'

summary: setup
	$(BIN)/finsig summary

test: setup
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -q $(PYTEST_ARGS)

# mypy: the package, as [tool.mypy] in pyproject.toml configures it (cache in .mypy_cache).
lint: setup
	$(BIN)/ruff check finsig_assets finsig_assets_tests bench
	$(BIN)/mypy

ui: setup
	$(BIN)/finsig init-instance
	$(BIN)/dagster dev -m finsig_assets.definitions -h 127.0.0.1 -p 3000

# A moved or copied home's store is pointed at its own artifacts first (finsig does so on open).
mlflow-ui: setup
	@case "$${MLFLOW_TRACKING_URI:-}" in http://*|https://*) \
		echo "MLFLOW_TRACKING_URI is a tracking server ($$MLFLOW_TRACKING_URI): its UI is that URL"; exit 0;; esac; \
	$(BIN)/finsig mlflow-store && \
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(FINSIG_HOME)/mlflow/mlflow.db}" -h 127.0.0.1 -p 5000

# The version the `champion` alias names, behind MLflow's own scoring server (POST /invocations;
# `finsig serving-example` prints a body built from real bars). The alias is resolved once, at
# start: restart after a promotion. The registry is the tracking store, as for the assets; the
# server execs `uvicorn` by name, hence the venv first on PATH.
serve: setup
	$(BIN)/finsig mlflow-store; \
	store="$${MLFLOW_TRACKING_URI:-sqlite:///$(FINSIG_HOME)/mlflow/mlflow.db}"; \
	PATH="$(BIN):$$PATH" MLFLOW_TRACKING_URI="$$store" MLFLOW_REGISTRY_URI="$$store" \
		$(BIN)/mlflow models serve -m "models:/finsig-direction@champion" --env-manager local -h 127.0.0.1 -p $(SERVE_PORT)

bench: setup
	$(BIN)/python bench/market_pipeline.py

# The production stack in Docker (docker/compose.yaml: PostgreSQL, the code server where runs
# execute, the webserver on 127.0.0.1:3000, the daemon, MLflow on 127.0.0.1:5000); `up` builds
# the image first. `make up GPU=1` adds docker/compose.gpu.yaml (a GPU for the code server).
# `down` keeps the named volumes (the data).
COMPOSE = docker compose -f docker/compose.yaml $(if $(GPU),-f docker/compose.gpu.yaml) --env-file docker/.env
COMPOSE_ENV_MISSING = docker/.env is missing: cp docker/.env.example docker/.env, then set POSTGRES_PASSWORD in it

up:
	@test -f docker/.env || { echo "$(COMPOSE_ENV_MISSING)" >&2; exit 1; }
	@! grep -qx 'POSTGRES_PASSWORD=change-me' docker/.env || { echo "docker/.env: set POSTGRES_PASSWORD (it is still the placeholder of docker/.env.example)" >&2; exit 1; }
	$(COMPOSE) up --build --detach --wait

down:
	@test -f docker/.env || { echo "$(COMPOSE_ENV_MISSING)" >&2; exit 1; }
	$(COMPOSE) down

clean:
	rm -rf $(FINSIG_HOME)
