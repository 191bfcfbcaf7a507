# BanditOps — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

# The one mechanism by which every script finds the tools the bootstrap installed: the venv's
# bin and .cache/bin (uv, helm, docker-compose) come first on the PATH of everything make runs.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/.cache/bin:$(PATH)

.PHONY: help venv system-deps demo up down status test unit lint bench check-deploy smoke-compose clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock
	@bash scripts/bootstrap.sh $(VENV)
	@touch $(STAMP)

venv: $(STAMP) ## create or update the virtual environment (uv, locked)

system-deps: ## install the system packages the tests use (redis-server, chromium, wrk), when root
	@bash scripts/system-deps.sh

demo: $(STAMP) ## run the main job: the autonomous learn → converge → drift → relearn loop (stack left running)
	@$(PY) -m stack.demo $(if $(SUMMARY),--summary $(SUMMARY),)

up: $(STAMP) ## start the local stack on 127.0.0.1 (Redis, environment, MLflow, Airflow, dashboard, decision API)
	@$(PY) -m stack.localstack up

down: ## stop exactly what `make up` started
	@if [ -x $(PY) ]; then $(PY) -m stack.localstack down; fi

status: $(STAMP) ## which parts of the local stack are running and healthy
	@$(PY) -m stack.localstack status

test: $(STAMP) system-deps lint ## the whole suite: lint, unit, integration, Airflow, e2e, browser, deploy checks
	@$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP) ## the fast tests only
	@$(PY) -m pytest tests/unit banditops $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy, bandit and the offline dependency audit (findings fixed or allow-listed in .security/allowlist.toml)
	@$(VENV)/bin/ruff check banditops services dags plugins tests benchmarks scripts docker stack
	@$(VENV)/bin/mypy
	@$(PY) scripts/security_scan.py all

check-deploy: $(STAMP) ## offline deploy checks: Dockerfile lint, helm lint/template + kubernetes-validate, compose config + schema
	@$(PY) -m pytest tests/deploy -m deploy $(PYTEST_ARGS)

smoke-compose: $(STAMP) ## build and run the compose stack through the lifecycle (needs a Docker engine; not part of `make test`)
	@$(PY) scripts/smoke_compose.py

bench: $(STAMP) system-deps ## benchmarks side by side with MABWiser, River, a bare FastAPI app -> benchmarks/RESULTS.md
	@$(PY) -m benchmarks.run --only core
	@$(PY) -m benchmarks.deployed_bench
	@$(PY) -m benchmarks.contextual_bench
	@$(PY) -m benchmarks.store_bench
	@$(PY) -m benchmarks.env_bench
	@$(PY) -m benchmarks.decision_bench
	@$(PY) -m benchmarks.demo_bench
	@$(PY) -m benchmarks.ope_bench
	@$(PY) -m benchmarks.run --only assemble

clean: ## remove generated files (keeps the virtual environment)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
