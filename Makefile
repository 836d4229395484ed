# FlowTrux AI Providers: the commands of docs/CONTRACT.md.
SHELL := /bin/bash
UV := .local/tools/bin/uv
RUN := $(UV) run --frozen --no-sync
ORG ?= org-dev
ROLE ?= OWNER

.PHONY: dev test unit down token bench bench-peer chaos install lint fmt api-client screenshots

## Install what is missing (uv, Python deps, Kafka jars, FerretDB launcher); idempotent.
install:
	@deploy/local/bootstrap.sh

## Run Kafka, FerretDB and the four services on loopback, in the foreground.
dev: install
	@$(RUN) python deploy/local/stack.py dev

## Quality gates and the whole suite against real Kafka and FerretDB.
test: install
	@deploy/local/test.sh $(PYTEST_ARGS)

## The fast loop: unit tests only (no Kafka, no store, no browser), well under 30 s.
unit: install
	@$(RUN) pytest -q -p no:cacheprovider tests/contracts tests/shared tests/deploy tests/security $(wildcard tests/*/unit)

## Stop anything `make dev` or `make test` left running.
down:
	@if [ -x $(UV) ] && [ -d .venv ]; then $(RUN) python deploy/local/stack.py down; \
	else deploy/local/infra.sh down; fi
	@deploy/local/dex.sh down

## Print a dev JWT for the gateway: make token ORG=<org_id> ROLE=<OWNER|ADMIN|MEMBER>
token: install
	@$(RUN) python -m gateway token --org "$(ORG)" --role "$(ROLE)"

## Run the benchmarks and write their report to bench/report.md.
bench: install
	@deploy/local/bench.sh

## FlowTrux next to LiteLLM's proxy (installed into .local/peer): writes bench/peer-report.md.
bench-peer: install
	@deploy/local/peer.sh $(PEER_ARGS)

## The chaos suite: N executions per scenario (A: single broker, B: 3-broker cluster) while
## runners, keyvault, FerretDB and brokers fail; writes bench/chaos-report.md.
N ?= 10000
RATE ?= 100
SCENARIO ?= both
chaos: install
	@$(RUN) python deploy/local/chaos.py --executions $(N) --rate $(RATE) --scenario $(SCENARIO) --out bench/chaos-report.md

## Regenerate services/web/openapi.json and the UI's typed client from the gateway's API.
api-client: install
	@$(RUN) python -m gateway openapi > services/web/openapi.json
	@cd services/web && npm run gen:api

## Regenerate the README's screenshots (docs/screenshots/) from the real stack in a browser.
screenshots: install
	@FLOWTRUX_DOCS_SCREENSHOTS=1 deploy/local/test.sh tests/e2e/browser/test_docs_screenshots.py

lint:
	@$(RUN) ruff format --check . && $(RUN) ruff check . && $(RUN) mypy shared services tests bench deploy/local && $(RUN) lint-imports

fmt:
	@$(RUN) ruff format . && $(RUN) ruff check --fix .
