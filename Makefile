# Annals: `make up` starts the whole platform, `make test` runs the full suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# uv, pinned, in its own venv under .stack/tools: it installs .venv exactly as uv.lock says.
UV_VERSION := 0.13.8
UV := .stack/tools/uv/bin/uv
PYTEST_ARGS ?=
# Local development: the services accept the documented token secret, on loopback only (README).
export ANNALS_DEV_MODE ?= 1
B ?=
BENCHES := $(filter-out harness baselines __init__ reference_paths lifecycle summary cpu,$(basename $(notdir $(wildcard bench/*.py))))

.PHONY: help install lock system-deps console-assets asyncapi-spec helm-tools up down status test lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Debian's PostgreSQL 15, a JDK and Maven, only when absent
	@bash deploy/local/install-system-deps.sh

$(UV):
	$(PYTHON) -m venv .stack/tools/uv
	.stack/tools/uv/bin/pip install -q uv==$(UV_VERSION)

# --locked: a uv.lock older than pyproject.toml fails here (run `make lock` and commit uv.lock).
$(INSTALLED): pyproject.toml uv.lock | $(UV)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --extra dev --python $(BIN)/python -q \
	  || { echo 'uv sync failed (its error is above): a stale uv.lock needs `make lock` and a commit; a network error needs the registry'; exit 1; }
	@touch $@

lock: $(UV) ## re-resolve uv.lock after a change of pyproject.toml's dependencies
	$(UV) lock

console-assets: $(INSTALLED) ## the console's JavaScript from npm (deploy/console/package-lock.json)
	@$(BIN)/python -c 'import sys; from annals.console.assets import missing; sys.exit(bool(missing()))' || $(BIN)/python -m annals.console.assets

asyncapi-spec: ## the AsyncAPI JSON Schemas from npm (deploy/asyncapi/package-lock.json), for the document's test
	@test -d deploy/asyncapi/node_modules/@asyncapi/specs || npm ci --prefix deploy/asyncapi --no-audit --no-fund --loglevel=error

helm-tools: $(INSTALLED) ## helm, kubeconform and the offline Kubernetes/CRD schemas (.stack/tools)
	@bash deploy/helm/schemas/fetch.sh

install: system-deps $(INSTALLED) console-assets asyncapi-spec helm-tools ## everything the platform needs (system packages, the Python package, chart checks)

# Services and relays of `make up` check their schemas in, and name them by URI from, the registry.
up: export ANNALS_REGISTRY_URL ?= http://127.0.0.1:$(or $(ANNALS_REGISTRY_PORT),8081)
up: install ## start the whole stack (platform processes under supervisord), print the URLs
	$(BIN)/annals stack up
	$(BIN)/annals registry up
	$(BIN)/annals schemas register
	$(BIN)/annals legacy migrate
	$(BIN)/annals connectors apply
	$(BIN)/annals services up
	$(BIN)/annals publishers up
	$(BIN)/annals projectors up
	$(BIN)/annals query up
	$(BIN)/annals console up
	$(BIN)/annals demo --once
	$(BIN)/annals platform urls

down: ## stop what `make up` started (data is kept)
	@test -x $(BIN)/annals && $(BIN)/annals registry down || true
	@test -x $(BIN)/annals && $(BIN)/annals platform down || true
	@test -x $(BIN)/annals && $(BIN)/annals stack down || true

status: ## each component with pid, address and health; each supervised process with restarts
	$(BIN)/annals stack status
	$(BIN)/annals platform status

lint: $(INSTALLED) helm-tools ## ruff, mypy, schemas, import contracts, the Helm chart (rendered, validated)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/ruff format --check libs services tests bench
	$(BIN)/mypy
	$(BIN)/mypy services
	$(BIN)/mypy bench
	$(BIN)/annals schemas check
	$(BIN)/lint-imports
	$(BIN)/annals helm lint

test: install lint ## the full suite; starts the stack it needs (and stops it if it started it)
	$(BIN)/pytest -ra $(PYTEST_ARGS)

bench: install ## all benchmarks, or one: make bench B=<name>; results in bench/results/
	$(BIN)/annals stack up
	@for b in $(if $(B),$(B),$(BENCHES)); do \
	  echo "== bench/$$b"; BENCH_FAULTS_ON_DEFAULT_STACK=1 $(BIN)/python -m bench.$$b || exit 1; done
	$(BIN)/python -m bench.summary

clean: ## remove caches (keeps .stack/; `annals stack reset` wipes it)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
