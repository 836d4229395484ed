#!/usr/bin/env bash
# `make bench`: every bench/*.py against real Kafka and FerretDB; report in bench/report.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
UV="$ROOT/.local/tools/bin/uv"
INFRA="$ROOT/deploy/local/infra.sh"
started=()
cleanup() { local rc=$?; for c in "${started[@]}"; do "$INFRA" down "$c" || true; done; exit $rc; }
trap cleanup EXIT INT TERM
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open 27017 || { "$INFRA" up ferretdb; started+=(ferretdb); }
port_open 9092 || { "$INFRA" up kafka; started+=(kafka); }
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
export MONGODB_URL="${MONGODB_URL:-mongodb://127.0.0.1:27017}"

mkdir -p bench/results
report="bench/report.md"
{
  echo "# FlowTrux benchmarks"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB;"
  echo "real Kafka and FerretDB on loopback. Targets are targets, not test assertions."
  echo
} >"$report"
shopt -s nullglob
benches=(bench/*.py)
if [[ ${#benches[@]} -eq 0 ]]; then echo "no benchmarks yet" | tee -a "$report"; exit 0; fi
rc=0
for bench in "${benches[@]}"; do
  name="$(basename "$bench" .py)"
  echo "== $name" >&2
  if "$UV" run --frozen --no-sync python "$bench" --out "bench/results/$name.md"; then
    cat "bench/results/$name.md" >>"$report"; echo >>"$report"
  else
    echo "## $name: FAILED (exit $?)" >>"$report"; rc=1
  fi
done
echo "report: $report" >&2
exit $rc
