#!/usr/bin/env bash
# Writes the per-backend migration files from the shared *.sql.in sources.
# Run after editing a .sql.in file; commit the generated files too.
set -euo pipefail
cd "$(dirname "$0")"
for src in *.sql.in; do
  name=${src%.sql.in}
  dir=$(ls -d sqlite/*_"$name")
  sed 's/BLOB_TYPE/BLOB/g' "$src" > "$dir/up.sql"
  dir=$(ls -d postgres/*_"$name")
  sed 's/BLOB_TYPE/BYTEA/g' "$src" > "$dir/up.sql"
done
