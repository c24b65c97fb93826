# The team's vocabulary. Every target bootstraps first, so each works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := .venv/bin
STAGE := scripts/stage.sh
PYTEST := $(BIN)/pytest
# Two workers on these 2-core machines; the e2e local cloud runs as one group (--dist loadgroup).
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: help setup lint test unit infra e2e local stop clean

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-8s %s\n", $$1, $$2 }'

setup: ## Install the pinned toolchain into .venv (idempotent, seconds when nothing changed)
	@$(STAGE) setup scripts/bootstrap.sh

lint: setup ## Every static check CI runs (scripts/validate.sh: ruff, terraform fmt/validate, checkov, sam, actionlint)
	@$(STAGE) validate scripts/validate.sh --no-bootstrap

test: lint ## Lint, then the whole suite (unit, infra, e2e, reliability) in parallel
	@$(STAGE) pytest $(PYTEST) $(PYTEST_ARGS)

unit: setup ## Unit tests only
	@$(STAGE) unit $(PYTEST) $(PYTEST_ARGS) tests/unit

infra: setup ## Terraform + template contract tests (emulator)
	@$(STAGE) infra $(PYTEST) $(PYTEST_ARGS) tests/infra

e2e: setup ## The local cloud end to end
	@$(STAGE) e2e $(PYTEST) $(PYTEST_ARGS) tests/e2e

local: ## Deploy the whole product on the embedded local cloud
	./scripts/deploy.sh local

stop: ## Stop the local cloud
	./scripts/local.sh stop

clean: ## Remove generated state (venv, local cloud, build output)
	-./scripts/local.sh stop 2>/dev/null
	rm -rf .venv .local .aws-sam .pytest_cache .ruff_cache

.PHONY: cost
cost: setup ## Monthly cost per environment from the tfvars (updates docs/cost.md)
	@$(STAGE) cost $(BIN)/python scripts/cost.py

.PHONY: bench
bench: setup ## Benchmarks as ratios to same-run baselines: one table, also written to docs/benchmarks.md
	@$(STAGE) bench $(BIN)/python -m bench.run
