#!/usr/bin/env bash
# A real OpenID Connect provider on loopback for the OIDC sign-in tests and for trying the
# prod sign-in locally: Dex (github.com/dexidp/dex), built from the Go module proxy at the
# commit of release v2.45.1 (deploy/local/dex/go.mod) into .local/cache, cached.
#
#   deploy/local/dex.sh install      build without starting
#   deploy/local/dex.sh up           start (a second start is a no-op); prints nothing else
#   deploy/local/dex.sh down         stop what this script started (pid file)
#   deploy/local/dex.sh config       print the configuration `up` would use
#
# Settings (environment): DEX_PORT (19300), DEX_INSTANCE (own pid file and log, for parallel
# runs), DEX_REDIRECT_URIS (comma-separated redirect URIs of the UI's client; default the dev
# gateway's http://127.0.0.1:8080/auth/callback), DEX_ALLOWED_ORIGINS (CORS origins of the
# token endpoint; default the origins of DEX_REDIRECT_URIS), DEX_TOKEN_TTL (lifetime of its
# tokens, 1h; the tests use a short one to see a real token expire).
#
# Storage is in memory and the signing keys are generated at start: nothing persists. Clients:
#   flowtrux-ui     public (no secret), Authorization Code + PKCE (S256), the UI's client
#   other-app       public; its tokens are for another audience (tests: must be refused)
# Users (password "password", the Dex example's bcrypt hash; dev/test only):
#   owner@example.com   groups org:org-oidc, role:OWNER
#   member@example.com  groups org:org-oidc, role:MEMBER
#   nobody@example.com  no groups (no organization: the gateway answers 403)
# Dex has no custom claims for static users, so organization and role travel as groups and
# the gateway maps them with GATEWAY_OIDC_ORG_CLAIM=groups GATEWAY_OIDC_ORG_PREFIX=org:
# GATEWAY_OIDC_ROLE_CLAIM=groups GATEWAY_OIDC_ROLE_PREFIX=role: (README § Signing in).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
CACHE="$LOCAL/cache"
RUN="$LOCAL/run"
LOGS="$LOCAL/logs"
HERE="$ROOT/deploy/local"
PORT="${DEX_PORT:-19300}"
NAME="dex${DEX_INSTANCE:+-$DEX_INSTANCE}"
REDIRECTS="${DEX_REDIRECT_URIS:-http://127.0.0.1:8080/auth/callback}"
READY_TIMEOUT="${LOCAL_READY_TIMEOUT:-120}"
mkdir -p "$CACHE" "$RUN" "$LOGS"

log() { printf '[dex] %s\n' "$*" >&2; }
die() { printf '[dex] ERROR: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [[ -f "$RUN/$NAME.pid" ]] && kill -0 "$(cat "$RUN/$NAME.pid")" 2>/dev/null; }

install() {
  local fp bin
  fp="$(cat "$HERE/dex/go.mod" "$HERE/dex/go.sum" | sha256sum | cut -c1-16)"
  bin="$CACHE/dex-$fp"
  if [[ ! -x "$bin" ]]; then
    command -v go >/dev/null || die "Go is needed to build Dex"
    log "building Dex (v2.45.1) from the Go module proxy into $bin (about a minute, once)"
    (cd "$HERE/dex" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/dexidp/dex/cmd/dex) \
      >"$LOGS/dex-install.log" 2>&1 || die "building Dex failed; see $LOGS/dex-install.log"
    mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

origins() { # the scheme://host:port of each redirect URI
  local uri out=()
  IFS=',' read -ra uris <<<"$REDIRECTS"
  for uri in "${uris[@]}"; do out+=("$(sed -E 's#^([a-z]+://[^/]+).*#\1#' <<<"$uri")"); done
  local IFS=','; echo "${out[*]}"
}

yaml_list() { # yaml_list "a,b" INDENT -> one "- 'x'" line per item
  local item; IFS=',' read -ra items <<<"$1"
  for item in "${items[@]}"; do printf "%s- '%s'\n" "$2" "$item"; done
}

config() {
  local hash='$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W'
  cat <<YAML
issuer: http://127.0.0.1:$PORT/dex
storage:
  type: memory
web:
  http: 127.0.0.1:$PORT
  allowedOrigins:
$(yaml_list "${DEX_ALLOWED_ORIGINS:-$(origins)}" "    ")
logger:
  level: info
  format: json
oauth2:
  responseTypes: [code]
  skipApprovalScreen: true
  passwordConnector: local
expiry:
  idTokens: ${DEX_TOKEN_TTL:-1h}
staticClients:
- id: flowtrux-ui
  name: FlowTrux AI Providers
  public: true
  redirectURIs:
$(yaml_list "$REDIRECTS" "  ")
- id: other-app
  name: Another application
  public: true
  redirectURIs: ['http://127.0.0.1:$PORT/other/callback']
enablePasswordDB: true
staticPasswords:
- email: owner@example.com
  hash: '$hash'
  username: owner
  userID: 5b1d7d4e-0c6f-4d55-9a11-000000000001
  groups: ['org:org-oidc', 'role:OWNER']
- email: member@example.com
  hash: '$hash'
  username: member
  userID: 5b1d7d4e-0c6f-4d55-9a11-000000000002
  groups: ['org:org-oidc', 'role:MEMBER']
- email: nobody@example.com
  hash: '$hash'
  username: nobody
  userID: 5b1d7d4e-0c6f-4d55-9a11-000000000003
  groups: []
YAML
}

up() {
  if alive; then log "$NAME already running (pid $(cat "$RUN/$NAME.pid"))"; return; fi
  port_open "$PORT" && die "127.0.0.1:$PORT is taken by another process (set DEX_PORT)"
  local bin dir
  bin="$(install)"
  dir="$LOCAL/$NAME"; mkdir -p "$dir"
  config >"$dir/config.yaml"
  log "starting Dex on http://127.0.0.1:$PORT/dex (log: $LOGS/$NAME.log)"
  nohup "$bin" serve "$dir/config.yaml" >>"$LOGS/$NAME.log" 2>&1 &
  echo $! >"$RUN/$NAME.pid"
  local waited=0
  until port_open "$PORT"; do
    alive || die "Dex exited during start; see $LOGS/$NAME.log"
    (( waited++ >= READY_TIMEOUT )) && die "Dex not ready after ${READY_TIMEOUT}s; see $LOGS/$NAME.log"
    sleep 1
  done
  log "dex ready after ${waited}s"
}

down() {
  alive || { rm -f "$RUN/$NAME.pid"; return 0; }
  local pid; pid="$(cat "$RUN/$NAME.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$RUN/$NAME.pid"
}

case "${1:-}" in
  install) install >/dev/null ;;
  up) up ;;
  down) down ;;
  config) config ;;
  *) echo "usage: $0 {install|up|down|config}" >&2; exit 2 ;;
esac
