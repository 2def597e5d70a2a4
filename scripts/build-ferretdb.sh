#!/usr/bin/env bash
# Build the FerretDB server (SQLite backend) that `make run` and the tests start.
# The binary that `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` makes
# panics at start: the module zip lacks build/version/version.txt. So we vendor the
# module from tools/ferretdb/go.mod, write that one file, and build from the vendor tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "$root" && .venv/bin/python -c 'from jobplatform.devservices import ferretdb_binary; print(ferretdb_binary())' 2>/dev/null \
      || echo "${FERRETDB_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/jobplatform/ferretdb-v1.24.2}")
if [ -x "$out" ] && "$out" --version >/dev/null 2>&1; then
  exit 0
fi
command -v go >/dev/null || { echo "build-ferretdb: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
echo "build-ferretdb: building FerretDB v1.24.2 into $out (first time only)"
cd "$root/tools/ferretdb"
go mod vendor
echo v1.24.2 > vendor/github.com/FerretDB/FerretDB/build/version/version.txt
mkdir -p "$(dirname "$out")"
go build -mod=vendor -o "$out.tmp" github.com/FerretDB/FerretDB/cmd/ferretdb
rm -rf vendor
mv "$out.tmp" "$out"
"$out" --version | head -1
