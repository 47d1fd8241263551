#!/usr/bin/env bash
# Core benchmarks with their baseline, measured in the same run on the same
# machine: `openssl speed rsa2048` (sign/s) first, then the criterion suite,
# then the 1,000,000-entry CRL's peak memory.
#
#   scripts/bench-core.sh            # everything (about 5 minutes on 2 cores)
#   scripts/bench-core.sh build_crl  # a criterion filter
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

echo "== baseline: openssl speed rsa2048 ($(openssl version))"
openssl speed -seconds 5 rsa2048 2>/dev/null | grep -E '^(rsa 2048|[[:space:]]+sign)' || true

echo "== criterion: cargo bench -p ca-core ${1:-}"
cargo bench -p ca-core --bench core -- ${1:+"$1"} 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:' || true

echo "== peak memory of a 1,000,000-entry CRL (release build)"
cargo test --release -p ca-tests --test crl_memory -- --nocapture 2>&1 | grep -E 'entries|test result'
