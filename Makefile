# Two commands: `make run` (set up and run) and `make test` (set up and test).
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PORT ?= 8000

.PHONY: run test lint format setup setup-dev migrate clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# Development defaults for a local run; any of them can be set in the environment or .env.
run: export DEBUG ?= true

# --- Outbound: the local WhatsApp Cloud API simulator ---
# Without WHATSAPP_ACCESS_TOKEN (in the environment or .env), `make run` also starts the
# Cloud API simulator (the simulator app, `manage.py whatsapp_simulator`) and points the app at it;
# with real credentials it does not.
SIMULATOR_PORT ?= $(shell expr $(PORT) + 25)
USE_SIMULATOR := $(if $(WHATSAPP_ACCESS_TOKEN),,$(if $(shell grep -s '^WHATSAPP_ACCESS_TOKEN=..*' .env),,yes))
ifeq ($(USE_SIMULATOR),yes)
RUN_PROCFILE := Procfile.simulator
run: export WHATSAPP_SIMULATOR_PORT := $(SIMULATOR_PORT)
run: export MADIO_WEB_PORT := $(PORT)
run: export WHATSAPP_API_BASE_URL := http://127.0.0.1:$(SIMULATOR_PORT)
run: export WHATSAPP_ACCESS_TOKEN := simulator-token
run: export WHATSAPP_APP_SECRET ?= simulator-app-secret
run: export WHATSAPP_PHONE_NUMBER_ID ?= 100000000000001
run: export WHATSAPP_BUSINESS_ACCOUNT_ID ?= 200000000000001
run: export WHATSAPP_WEBHOOK_VERIFY_TOKEN ?= simulator-verify-token
else
RUN_PROCFILE := Procfile
endif

run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py metrics_reset  # metrics of earlier processes (PROMETHEUS_MULTIPROC_DIR)
	PATH="$(BIN):$$PATH" exec $(BIN)/honcho --no-prefix start -f $(RUN_PROCFILE) -p $(PORT)

test: export SECRET_KEY ?= test-only-secret-key-not-for-production
test: export DATA_DIR ?= $(CURDIR)/var/test
test: setup-dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var/test

# --- Benchmarks (never part of `make test`; see README, Benchmarks) ---
.PHONY: bench bench-quick
bench: setup
	$(BIN)/python benchmarks/run.py $(ARGS)

bench-quick: setup
	$(BIN)/python benchmarks/run.py --quick $(ARGS)

# About ten minutes of load with worker crashes and Redis/PostgreSQL restarts, asserting nothing is lost
# (benchmarks/soak.py, figures in benchmarks/SOAK.md). ARGS="--dry-run" skips the server restarts.
.PHONY: soak
soak: setup
	$(BIN)/python benchmarks/soak.py $(ARGS)
