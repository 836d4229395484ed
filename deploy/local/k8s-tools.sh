#!/usr/bin/env bash
# Builds the Kubernetes manifest tools from the Go module proxy into .local/tools/bin, cached
# by the fingerprint of deploy/local/k8stools/go.{mod,sum}:
#   kustomize   (sigs.k8s.io/kustomize/kustomize/v5)   renders deploy/k8s
#   kubeconform (github.com/yannh/kubeconform)         validates the rendering offline
#                                                       against deploy/k8s/schemas/
# Prints the directory holding both binaries.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local/k8stools"
LOGS="$ROOT/.local/logs"
fp="$(cat "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-16)"
BIN="$ROOT/.local/cache/k8stools-$fp"
mkdir -p "$LOGS"
if [[ ! -x "$BIN/kustomize" || ! -x "$BIN/kubeconform" ]]; then
  command -v go >/dev/null || { echo "[k8s-tools] Go is needed to build kustomize and kubeconform" >&2; exit 1; }
  echo "[k8s-tools] building kustomize and kubeconform into $BIN" >&2
  mkdir -p "$BIN.tmp"
  (cd "$HERE" && CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp/kustomize" sigs.k8s.io/kustomize/kustomize/v5 \
     && CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp/kubeconform" github.com/yannh/kubeconform/cmd/kubeconform) \
    >"$LOGS/k8s-tools-install.log" 2>&1 \
    || { echo "[k8s-tools] build failed; see $LOGS/k8s-tools-install.log" >&2; exit 1; }
  rm -rf "$BIN" && mv "$BIN.tmp" "$BIN"
fi
echo "$BIN"
