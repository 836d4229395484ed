#!/usr/bin/env bash
# Writes into $1 (a directory) a patched copy of FerretDB v1.24.2 and a go.mod using it, and
# prints that go.mod's path (for `go build -modfile`): FerretDB with its `_id` lookups able
# to use the `_id` index.
#
# FerretDB 1.24.2's SQLite backend creates every collection's unique `_id` index on the
# expression `_ferretdb_sjson->"_id"` but filters, updates and deletes by `_id` with
# `_ferretdb_sjson->'$._id'`. SQLite uses an expression index only for the same expression,
# so every `{"_id": v}` read, update and delete scanned the whole table (20,000 documents:
# 10.8 ms per find_one, growing with the collection). Both expressions select the same
# value; spelling the filter as the index is spelled makes SQLite search the index
# (EXPLAIN QUERY PLAN: `SCAN t` before, `SEARCH t USING INDEX t__id_ (<expr>=?)` after).
# Existing data files need nothing: their indexes already have that expression.
set -euo pipefail
out="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(cd "$here" && go mod download -json github.com/FerretDB/FerretDB \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$dir" ]] || { echo "patch.sh: FerretDB's module source not found" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
cp -r "$dir" "$out/FerretDB" && chmod -R u+w "$out/FerretDB"
file="$out/FerretDB/internal/backends/sqlite/metadata/metadata.go"
sed -i "s|IDColumn = DefaultColumn + \"->'\$._id'\"|IDColumn = DefaultColumn + \`->\"_id\"\`|" "$file"
grep -q 'IDColumn = DefaultColumn + `->"_id"`' "$file" \
  || { echo "patch.sh: the _id expression patch no longer applies to $file" >&2; exit 1; }
# Second patch: its SQL wrapper (internal/util/fsql) logged every query and its arguments at
# debug level with `l.With(fields...).DebugContext(...)`: slog's With formats the attributes
# at once, before the level is checked, so every insert quoted its whole document as text
# with debug logging off (11.7 % of FerretDB's CPU under the gateway's test runs, pprof).
# Each such call now runs only when the logger is enabled for debug (what it logs then is
# unchanged).
for go in "$out/FerretDB/internal/util/fsql/tx.go" "$out/FerretDB/internal/util/fsql/db.go"; do
  sed -i -E 's/^(\t+)((tx|db)\.l\.With\(fields\.\.\.\)\.DebugContext\(ctx, .*\))$/\1if \3.l.Enabled(ctx, slog.LevelDebug) {\n\1\t\2\n\1}/' "$go"
done
# Every such call (12) must now sit right under its guard.
if [[ "$(awk '/\.l\.With\(fields/ { n++; if (prev ~ /l\.Enabled\(ctx, slog\.LevelDebug\)/) ok++ } { prev = $0 }
              END { print (n == 12 && ok == 12) ? "ok" : "no" }' \
        "$out/FerretDB/internal/util/fsql/tx.go" "$out/FerretDB/internal/util/fsql/db.go")" != ok ]]; then
  echo "patch.sh: the debug-logging patch no longer applies to internal/util/fsql" >&2; exit 1
fi
{ cat "$here/go.mod"; echo; echo "replace github.com/FerretDB/FerretDB => $out/FerretDB"; } \
  >"$out/go.mod"
cp "$here/go.sum" "$out/go.sum"
echo "$out/go.mod"
