#!/usr/bin/env bash
# A real OpenTelemetry Collector for local tests (deploy/local/otelcol: the OTLP receiver and
# the file exporter, collector v0.161.0, built from the Go module proxy and cached by the
# fingerprint of its sources).
#   otelcol.sh install              build if needed; print the binary's path
#   otelcol.sh config <port> <out>  print a config: OTLP/HTTP on 127.0.0.1:<port>, spans as
#                                   JSON lines into <out>
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local/otelcol"
CACHE="$ROOT/.local/cache"
LOGS="$ROOT/.local/logs"
mkdir -p "$CACHE" "$LOGS"

install() {
  local fp bin
  fp="$(cat "$HERE/main.go" "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-16)"
  bin="$CACHE/flowtrux-otelcol-$fp"
  if [[ ! -x "$bin" ]]; then
    command -v go >/dev/null || { echo "[otelcol] Go is needed to build the collector" >&2; exit 1; }
    echo "[otelcol] building the OpenTelemetry Collector (v0.161.0) into $bin" >&2
    (cd "$HERE" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin.tmp" .) \
      >"$LOGS/otelcol-install.log" 2>&1 \
      || { echo "[otelcol] build failed; see $LOGS/otelcol-install.log" >&2; exit 1; }
    mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

config() {
  cat <<YAML
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$1
exporters:
  file:
    path: $2
    format: json
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
YAML
}

case "${1:-}" in
  install) install ;;
  config) config "$2" "$3" ;;
  *) echo "usage: $0 install | config <port> <out>" >&2; exit 2 ;;
esac
