#!/usr/bin/env bash
# Builds the Settings UI (services/web) when needed; idempotent and cached.
#   deploy/local/web.sh         npm ci when node_modules is missing or package-lock.json changed,
#                               then `npm run build` when any source is newer than dist/index.html
#   deploy/local/web.sh check   npm ci as above, then typecheck, lint, check:api and the unit tests
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WEB="$ROOT/services/web"
STAMP="$ROOT/.local/.web-npm"
export npm_config_cache="$ROOT/.local/cache/npm"
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

log() { echo "[web] $*" >&2; }
fail() { echo "[web] ERROR: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20 or newer is needed)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || fail "Node.js >= 20 is needed (found $(node --version))"

mkdir -p "$ROOT/.local" "$npm_config_cache"
cd "$WEB"

ensure_deps() {
  if [[ ! -d node_modules || ! -f "$STAMP" || package-lock.json -nt "$STAMP" || package.json -nt "$STAMP" ]]; then
    log "installing dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >&2 || fail "npm ci failed in services/web"
    touch "$STAMP"
  fi
}

needs_build() {
  [[ -f dist/index.html ]] || return 0
  local newer
  newer="$(find . \( -path ./node_modules -o -path ./dist \) -prune -o -type f -newer dist/index.html -print -quit)"
  [[ -n "$newer" ]]
}

build() {
  if needs_build; then
    log "building the UI (npm run build)"
    npm run --silent build >&2 || fail "npm run build failed in services/web"
    [[ -f dist/index.html ]] || fail "the build wrote no dist/index.html"
    log "built services/web/dist"
  else
    log "services/web/dist is up to date"
  fi
}

check() {
  log "typecheck"; npm run --silent typecheck || fail "typecheck failed"
  log "lint"; npm run --silent lint || fail "lint failed"
  log "check:api"; npm run --silent check:api || fail "check:api failed"
  log "unit tests"; npm run --silent test || fail "unit tests failed"
  log "all UI checks passed"
}

case "${1:-build}" in
  build) ensure_deps; build ;;
  check) ensure_deps; check ;;
  *) fail "unknown mode '$1' (use: build | check)" ;;
esac
