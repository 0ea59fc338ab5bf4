#!/usr/bin/env bash
# `make bench`: every benchmark binary the build produced, one after another.
set -euo pipefail
build=${1:-build/default}
for bench in "$build"/bin/*_bench; do
  echo "== $(basename "$bench")"
  "$bench" --benchmark_counters_tabular=true
done
