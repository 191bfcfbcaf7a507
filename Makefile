# BanditOps — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
UV      ?= $(shell command -v uv 2>/dev/null || echo $(VENV)/../.cache/uv-bin/uv)
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv system-deps demo up down status test unit lint bench check-deploy smoke-compose clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock
	@bash scripts/bootstrap.sh $(VENV)
	@touch $(STAMP)

venv: $(STAMP) ## create or update the virtual environment (uv, locked)

system-deps: ## install the system packages the tests use (redis-server, chromium, wrk), when root
	@bash scripts/system-deps.sh

demo: $(STAMP) ## run the main job: the autonomous learn → converge → drift → relearn loop
	@$(PY) -m banditops.cli demo $(if $(SUMMARY),--summary $(SUMMARY),)

test: $(STAMP) system-deps lint ## the whole suite: lint, unit, integration, Airflow, e2e, browser, deploy checks
	@$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP) ## the fast tests only
	@$(PY) -m pytest tests/unit banditops $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	@$(VENV)/bin/ruff check banditops services dags plugins tests benchmarks
	@$(VENV)/bin/mypy

bench: $(STAMP) system-deps ## benchmarks side by side with MABWiser and River -> benchmarks/RESULTS.md
	@$(PY) -m benchmarks.run

clean: ## remove generated files (keeps the virtual environment)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
