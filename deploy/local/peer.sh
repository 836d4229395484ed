#!/usr/bin/env bash
# `make bench-peer`: FlowTrux next to LiteLLM's proxy (bench/peer/litellm_bench.py).
# Installs the pinned LiteLLM proxy into .local/peer/litellm (a benchmark tool, not a project
# dependency), makes sure Kafka and FerretDB run, and writes bench/peer-report.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
UV="$ROOT/.local/tools/bin/uv"
LITELLM_VERSION="1.108.7"
VENV="$ROOT/.local/peer/litellm"
if [[ ! -x "$VENV/bin/litellm" ]] || ! "$VENV/bin/python" -c "import importlib.metadata as m,sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null; then
  echo "[peer] installing the LiteLLM proxy $LITELLM_VERSION into $VENV" >&2
  UV_PYTHON_DOWNLOADS=never "$UV" venv -q --python "${PYTHON:-python3}" "$VENV"
  "$UV" pip install -q --python "$VENV/bin/python" "litellm[proxy]==$LITELLM_VERSION"
fi
INFRA="$ROOT/deploy/local/infra.sh"
started=()
cleanup() { local rc=$?; for c in "${started[@]}"; do "$INFRA" down "$c" || true; done; exit $rc; }
trap cleanup EXIT INT TERM
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open 27017 || { "$INFRA" up ferretdb; started+=(ferretdb); }
# A broker started here opens its JMX port: the report counts its requests by type per row
# (a broker already running without it is used as it is, and they are not counted).
export LOCAL_KAFKA_JMX_PORT="${LOCAL_KAFKA_JMX_PORT:-9999}"
port_open 9092 || { "$INFRA" up kafka; started+=(kafka); }
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
export MONGODB_URL="${MONGODB_URL:-mongodb://127.0.0.1:27017}"
"$UV" run --frozen --no-sync python bench/peer/litellm_bench.py --litellm "$VENV/bin/litellm" "$@"
