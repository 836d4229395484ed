#!/usr/bin/env bash
# Installs what the project needs, idempotently and cached:
#   - uv (pinned) into .local/tools, from PyPI with the machine's python3 (>= 3.11)
#   - the uv workspace (.venv) from the committed uv.lock
#   - the Kafka broker jars (Maven Central) and the FerretDB launcher (Go module proxy)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
UV_VERSION="0.9.7"
TOOLS="$ROOT/.local/tools"
mkdir -p "$ROOT/.local/logs"

PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "[bootstrap] Python >= 3.11 is needed (found: $("$PY" --version 2>&1))" >&2; exit 1; }

if [[ ! -x "$TOOLS/bin/uv" ]] || [[ "$("$TOOLS/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
  echo "[bootstrap] installing uv $UV_VERSION into .local/tools" >&2
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

stamp="$ROOT/.local/.synced"
if [[ ! -f "$stamp" || uv.lock -nt "$stamp" || ! -d .venv ]]; then
  echo "[bootstrap] syncing the Python workspace (uv sync --frozen)" >&2
  # --compile-bytecode: every service, test server and benchmark process starts ~1.5 s
  # sooner when .pyc files exist (and some environments set PYTHONDONTWRITEBYTECODE).
  UV_PYTHON_DOWNLOADS=never "$TOOLS/bin/uv" sync --frozen --compile-bytecode --python "$PY" -q
  touch "$stamp"
fi

"$ROOT/deploy/local/infra.sh" install
