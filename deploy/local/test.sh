#!/usr/bin/env bash
# `make test`: quality gates, then the whole suite against real Kafka and FerretDB.
# Starts the infrastructure if it is not running and stops only what it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
UV="$ROOT/.local/tools/bin/uv"
RUNPY=("$UV" run --frozen --no-sync)
INFRA="$ROOT/deploy/local/infra.sh"
started=()

# Infrastructure this script starts is a throwaway instance ("test": own pid files and
# data, wiped before and after), so test topics and databases never pile up anywhere.
cleanup() {
  local rc=$?
  for component in "${started[@]}"; do
    LOCAL_INSTANCE=test "$INFRA" down "$component" || true
    LOCAL_INSTANCE=test "$INFRA" purge "$component" || true
  done
  exit $rc
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

echo "== quality gates"
"${RUNPY[@]}" ruff format --check .
"${RUNPY[@]}" ruff check .
"${RUNPY[@]}" mypy shared services tests bench deploy/local
"${RUNPY[@]}" lint-imports

echo "== UI and API agree"
# The UI's client is generated from the gateway's OpenAPI document: a changed API must come
# with a regenerated document (and types), or the UI and the API disagree.
if ! diff -q <("${RUNPY[@]}" python -m gateway openapi) services/web/openapi.json >/dev/null; then
  echo "services/web/openapi.json differs from the gateway's API:" >&2
  diff <("${RUNPY[@]}" python -m gateway openapi) services/web/openapi.json | head -40 >&2
  echo "run: make api-client (regenerates openapi.json and the UI's typed client)" >&2
  exit 1
fi
"$ROOT/deploy/local/web.sh" check

echo "== infrastructure"
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
export MONGODB_URL="${MONGODB_URL:-mongodb://127.0.0.1:27017}"
if ! port_open 27017 && [[ "$MONGODB_URL" == "mongodb://127.0.0.1:27017" ]]; then
  LOCAL_INSTANCE=test "$INFRA" purge ferretdb
  LOCAL_INSTANCE=test "$INFRA" up ferretdb; started+=(ferretdb)
fi
if ! port_open 9092 && [[ "$KAFKA_BOOTSTRAP_SERVERS" == "127.0.0.1:9092" ]]; then
  LOCAL_INSTANCE=test "$INFRA" purge kafka
  LOCAL_INSTANCE=test "$INFRA" up kafka; started+=(kafka)
fi

echo "== tests"
# Provider keys must never come from the environment: set canaries that must go unused.
export ANTHROPIC_API_KEY="sk-ant-env-canary-must-never-be-used-0000"
export OPENAI_API_KEY="sk-env-canary-must-never-be-used-00000000"
export GOOGLE_API_KEY="AIzaEnvCanaryMustNeverBeUsed000000000"
export GEMINI_API_KEY="AIzaEnvCanaryMustNeverBeUsed000000001"
set +e
"${RUNPY[@]}" pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests: failing" >&2; fi
exit $rc
