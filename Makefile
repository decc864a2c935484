# Resonanz — `make help` lists the targets. `make run` and `make test` install what is missing first.
SHELL := /bin/bash
VENV := .venv/bin
SRC_TYPED := sdk/src services/publishing/src services/listening/src services/scoring/src plugins/simulated/src cli/src embedded/src

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint type protos protos-check protos-lint bench helm-lint deploy-check clean
.PHONY: train-sentiment eval-sentiment

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

install: ## Install uv (into .tools/) and every distribution of the workspace (into .venv/)
	@scripts/bootstrap.sh

run: install ## Start the whole platform in one process: embedded broker, SQLite, 3 services, simulated network
	@$(VENV)/resonanz-embedded

test: install ## Everything CI runs: lint, types, contracts, then every test (real broker, SQLite, PostgreSQL)
	@scripts/ensure_postgres.sh
	@$(MAKE) --no-print-directory lint type protos-check protos-lint
	@$(VENV)/pytest

test-fast: install ## Only the tests (no lint or type checks)
	@$(VENV)/pytest

lint: ## ruff check and format check
	@$(VENV)/ruff check .
	@$(VENV)/ruff format --check .

type: ## mypy --strict on the sdk, the services, the plugins, the CLI and the embedded runner
	@$(VENV)/mypy $(SRC_TYPED)

protos: ## Regenerate the Python from protos/ (commit the result)
	@scripts/gen_protos.sh

protos-check: ## Fail when the committed generated Python drifts from the .proto files
	@scripts/gen_protos.sh --check

protos-lint: ## buf lint (STANDARD rules), offline
	@cd protos && ../$(VENV)/buf lint

bench: install ## Run the benchmarks in bench/ (figures beside a baseline from the same run)
	@for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

train-sentiment: install ## Retrain the sentiment model shipped in resonanz-scoring (data: RESONANZ_SENTIMENT_DATA_DIR)
	@$(VENV)/python services/scoring/train/train_sentiment.py

eval-sentiment: install ## Accuracy and macro-F1 of the sentiment model (and the lexicon) on the dev splits
	@$(VENV)/python services/scoring/train/eval_sentiment.py

helm-lint: install ## helm lint the chart, render it with default and production values, validate every manifest
	@$(VENV)/pytest -q tests/deploy/test_deploy_chart.py

deploy-check: install ## Every deployment check: chart, Dockerfiles (hadolint), dashboards and alert rules
	@$(VENV)/pytest -q tests/deploy

clean: ## Remove embedded state, caches and the virtual environments
	rm -rf .resonanz .venv .tools .mypy_cache .ruff_cache .pytest_cache
