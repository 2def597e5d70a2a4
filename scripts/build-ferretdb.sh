#!/usr/bin/env bash
# Build the FerretDB server (SQLite backend) that `make run` and the tests start.
#
# The binary that `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` makes
# panics at start: the module zip lacks build/version/version.txt. So we vendor the
# module pinned in tools/ferretdb/go.mod, write that one file, and build from the vendor
# tree. Two edits make lookups by _id use the table's _id index (see the README's
# "FerretDB" section); without them every update of one job reads the whole collection:
#   1. the _id expression in queries is written exactly as the _id index is, so SQLite
#      can use that index (upstream writes it two different ways);
#   2. a filter that names a plain _id value is narrowed to that row in SQL even when it
#      has other conditions; FerretDB applies the whole filter to the rows afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "$root" && .venv/bin/python -c 'from jobplatform.devservices import ferretdb_binary; print(ferretdb_binary())')
if [ -x "$out" ] && "$out" --version >/dev/null 2>&1; then
  exit 0
fi
command -v go >/dev/null || { echo "build-ferretdb: Go 1.22+ is required to build FerretDB" >&2; exit 1; }
echo "build-ferretdb: building FerretDB v1.24.2 into $out (first time only)"
cd "$root/tools/ferretdb"
rm -rf vendor
go mod vendor
src=vendor/github.com/FerretDB/FerretDB
chmod -R u+w vendor
echo v1.24.2 > "$src/build/version/version.txt"

edit() {  # edit FILE OLD NEW: replace a line's text, failing if it is not there exactly
  grep -qF -- "$2" "$1" || { echo "build-ferretdb: expected text not found in $1: $2" >&2; exit 1; }
  OLD="$2" NEW="$3" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$1"
}
edit "$src/internal/backends/sqlite/metadata/metadata.go" \
  "IDColumn = DefaultColumn + \"->'\$._id'\"" 'IDColumn = DefaultColumn + `->"_id"`'
edit "$src/internal/backends/sqlite/collection.go" \
  'if params.Filter.Len() == 1 {' 'if params.Filter != nil {'

mkdir -p "$(dirname "$out")"
go build -mod=vendor -o "$out.tmp" github.com/FerretDB/FerretDB/cmd/ferretdb
rm -rf vendor
mv "$out.tmp" "$out"
"$out" --version | head -1
