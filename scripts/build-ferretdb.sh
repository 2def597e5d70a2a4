#!/usr/bin/env bash
# Build the FerretDB server (SQLite backend) that `make run` and the tests start.
#
# The binary that `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` makes
# panics at start: the module zip lacks build/version/version.txt. So we vendor the
# module pinned in tools/ferretdb/go.mod, write that one file, apply the edits in
# tools/ferretdb/edit_sources.py (they let SQLite use the _id index, let updates release
# SQLite's connections and reads in time, and make each change of a document atomic; see
# its docstring and the README's "FerretDB" section), and build from the vendor tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "$root" && .venv/bin/python -c 'from jobplatform.devservices import ferretdb_binary; print(ferretdb_binary())')
if [ -x "$out" ] && "$out" --version >/dev/null 2>&1; then
  exit 0
fi
command -v go >/dev/null || { echo "build-ferretdb: Go 1.24+ is required to build FerretDB" >&2; exit 1; }
echo "build-ferretdb: building FerretDB v1.24.2 into $out (first time only)"
cd "$root/tools/ferretdb"
rm -rf vendor
go mod vendor
src=vendor/github.com/FerretDB/FerretDB
chmod -R u+w vendor
echo v1.24.2 > "$src/build/version/version.txt"

"$root/.venv/bin/python" "$root/tools/ferretdb/edit_sources.py" "$src"

mkdir -p "$(dirname "$out")"
go build -mod=vendor -o "$out.tmp" github.com/FerretDB/FerretDB/cmd/ferretdb
rm -rf vendor
mv "$out.tmp" "$out"
"$out" --version | head -1
