#!/usr/bin/env bash
# Installs what the project needs, idempotently and cached:
#   - uv (pinned) into .local/tools, from PyPI with the machine's python3 (>= 3.11)
#   - the uv workspace (.venv) from the committed uv.lock
#   - the Kafka broker jars (Maven Central) and the FerretDB launcher (Go module proxy)
#   - kustomize and kubeconform (Go module proxy), for validating deploy/k8s
#   - Dex, the OIDC provider of the sign-in tests (Go module proxy; deploy/local/dex.sh)
#   - the UI (services/web, npm registry), built when its sources changed
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
# kustomize + kubeconform (Go module proxy) for the Kubernetes manifest tests (tests/deploy).
"$ROOT/deploy/local/k8s-tools.sh" >/dev/null
# The OpenTelemetry Collector the e2e suite exports spans to (Go module proxy, cached).
"$ROOT/deploy/local/otelcol.sh" install >/dev/null
"$ROOT/deploy/local/dex.sh" install
"$ROOT/deploy/local/web.sh"

# --- browser tests (tests/e2e/browser): Debian's Chromium and axe-core -------------------
# Playwright (a dev dependency in uv.lock) drives /usr/bin/chromium; it never downloads a
# browser of its own. axe-core comes from npm, pinned by tests/e2e/browser/package-lock.json.
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then
    echo "[bootstrap] installing Debian's chromium for the browser tests" >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      chromium chromium-driver fonts-liberation
  else
    # Only the browser tests need it: `make dev` goes on; `make test` fails in those tests.
    echo "[bootstrap] WARNING: the browser tests need Debian's chromium; as root run:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver fonts-liberation" >&2
  fi
fi
browser_tests="$ROOT/tests/e2e/browser"
axe_stamp="$ROOT/.local/.axe-core-installed"
if [[ ! -f "$axe_stamp" || "$browser_tests/package-lock.json" -nt "$axe_stamp" \
      || ! -f "$browser_tests/node_modules/axe-core/axe.min.js" ]]; then
  echo "[bootstrap] installing axe-core (npm ci in tests/e2e/browser)" >&2
  (cd "$browser_tests" && npm ci --cache "$ROOT/.local/cache/npm" --no-audit --no-fund --loglevel=error)
  touch "$axe_stamp"
fi
# --- end of browser tests ------------------------------------------------------------------
