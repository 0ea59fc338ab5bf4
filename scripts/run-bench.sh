#!/usr/bin/env bash
# `make bench` (docs/benchmarks.md): dtq's embedded engine side by side with
# the queues users would otherwise pick, in one run on this machine, then
# every other benchmark binary the build produced.
#
#   scripts/run-bench.sh [BUILD_DIR]        (default build/default)
#
# 1. Installs the peers once into the cache (scripts/bench/peers.sh: BullMQ
#    from npm, River from the Go module proxy) and starts their servers on
#    loopback ports of their own (scripts/bench/redis.sh: Redis with AOF,
#    fsync every second; scripts/bench/postgres.sh: a throwaway PostgreSQL
#    cluster, synchronous commit). A trap stops them however the script ends.
# 2. Runs, DTQ_BENCH_RUNS times, interleaved: engine_bench (dtq's defaults:
#    the plugin isolated in a runner process, durable writes), BullMQ, River.
#    The same work for each: DTQ_BENCH_JOBS no-op jobs with one progress
#    update each, enqueued in batches of DTQ_BENCH_BATCH while the workers
#    run, DTQ_BENCH_CONCURRENCY jobs in flight, each peer starting empty.
# 3. Prints a table of every figure and the ratio of dtq to each peer and to
#    the faster peer, run by run (only a ratio within one round means
#    anything on a shared machine), then runs the other *_bench binaries
#    and bench/process_bench.py (start-up time and idle memory).
#
# Environment (defaults in brackets):
#   DTQ_BENCH_RUNS [3]  DTQ_BENCH_JOBS [200000]  DTQ_BENCH_CONCURRENCY [32]  DTQ_BENCH_BATCH [500]
#   DTQ_BENCH_PEERS ["bullmq river"]: the peers to run; "" for dtq alone
#   DTQ_BENCH_BULLMQ_WORKERS [1]: BullMQ worker processes sharing the concurrency
#   DTQ_BENCH_RIVER_FETCH_COOLDOWN [1ms]: River's FetchCooldown
#   DTQ_BENCH_OTHERS [1]: 0 skips the other benchmark binaries
#   DTQ_BENCH_TIMEOUT [1800]: seconds one system may take in one round before it is stopped
#   DTQ_BENCH_REDIS_PORT [21579], DTQ_BENCH_POSTGRES_PORT [21532], DTQ_CACHE_DIR, DTQ_SERVERS_DIR
#
# It asserts nothing. It exits non-zero only when something could not run
# (a peer that cannot be installed or started is reported, the rest still
# runs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/default}
runs=${DTQ_BENCH_RUNS:-3}
jobs=${DTQ_BENCH_JOBS:-200000}
concurrency=${DTQ_BENCH_CONCURRENCY:-32}
batch=${DTQ_BENCH_BATCH:-500}
read -r -a peers <<<"${DTQ_BENCH_PEERS-bullmq river}"
bullmq_workers=${DTQ_BENCH_BULLMQ_WORKERS:-1}
river_cooldown=${DTQ_BENCH_RIVER_FETCH_COOLDOWN:-1ms}
others=${DTQ_BENCH_OTHERS:-1}
limit=${DTQ_BENCH_TIMEOUT:-1800}

[[ -x $build/bin/engine_bench ]] || {
  echo "run-bench: $build/bin/engine_bench not found; build first (make bench builds it)" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/dtq-bench.XXXXXX")
results=$work/results.tsv
failed=0
started_servers=()
cleanup() {
  local server
  for server in "${started_servers[@]}"; do
    "$root/scripts/bench/$server.sh" stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }

# --- the peers: installed, then their servers started ----------------------------
bullmq_modules="" river_bin="" river_dsn=""
enabled=()
for peer in "${peers[@]}"; do
  case $peer in
    bullmq)
      if bullmq_modules=$("$root/scripts/bench/peers.sh" bullmq) && "$root/scripts/bench/redis.sh" start; then
        started_servers+=(redis)
        enabled+=(bullmq)
      else
        echo "run-bench: BullMQ could not be installed or its Redis started; it is left out" >&2
        failed=1
      fi
      ;;
    river)
      if river_bin=$("$root/scripts/bench/peers.sh" river) && "$root/scripts/bench/postgres.sh" start; then
        started_servers+=(postgres)
        river_dsn=$("$root/scripts/bench/postgres.sh" env | sed -n 's/^DTQ_BENCH_POSTGRES_DSN=//p')
        enabled+=(river)
      else
        echo "run-bench: River could not be installed or its PostgreSQL started; it is left out" >&2
        failed=1
      fi
      ;;
    *)
      echo "run-bench: unknown peer '$peer' in DTQ_BENCH_PEERS (bullmq, river)" >&2
      failed=1
      ;;
  esac
done

# run_one SYSTEM ROUND: runs one system, shows its output, and appends its
# figures to the results (or "-" when it failed).
run_one() {
  local system=$1 round=$2 out=$work/$1-$2.out before
  before=$(load)
  echo "== round $round/$runs: $system (load average before: $before)"
  local status=0
  case $system in
    dtq)
      # Its data folder goes under $work, which the trap removes even when
      # engine_bench is stopped before it removes the folder itself.
      TMPDIR=$work timeout --foreground -k 10 "$limit" "$build/bin/engine_bench" --jobs "$jobs" --concurrency "$concurrency" --batch "$batch" >"$out" 2>&1 ||
        status=$?
      ;;
    bullmq)
      "$root/scripts/bench/redis.sh" flush >"$out" 2>&1 &&
        NODE_PATH=$bullmq_modules timeout --foreground -k 10 "$limit" node "$root/bench/peers/bullmq/bench.js" \
        --port "${DTQ_BENCH_REDIS_PORT:-21579}" --jobs "$jobs" --concurrency "$concurrency" \
        --batch "$batch" --workers "$bullmq_workers" >>"$out" 2>&1 || status=$?
      ;;
    river)
      timeout --foreground -k 10 "$limit" "$river_bin" -dsn "$river_dsn" -jobs "$jobs" -concurrency "$concurrency" -batch "$batch" \
        -fetch-cooldown "$river_cooldown" >"$out" 2>&1 || status=$?
      ;;
  esac
  cat "$out"
  local enqueue process p50 p99
  enqueue=$(sed -n 's/^  durable enqueue *\([0-9.]*\) jobs\/s$/\1/p' "$out")
  process=$(sed -n 's/^  submit -> complete *\([0-9.]*\) jobs\/s$/\1/p' "$out")
  p50=$(sed -n 's/^  latency p50 *\([0-9.]*\) ms$/\1/p' "$out")
  p99=$(sed -n 's/^  latency p99 *\([0-9.]*\) ms$/\1/p' "$out")
  if ((status != 0)) || [[ -z $enqueue || -z $process ]]; then
    echo "run-bench: $system failed in round $round (exit status $status)" >&2
    failed=1
    enqueue=- process=- p50=- p99=-
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$system" "$enqueue" "$process" "${p50:--}" "${p99:--}" \
    "$before" >>"$results"
}

echo "== side by side: dtq${enabled[*]:+ beside ${enabled[*]}} on $(nproc) cores, $runs round(s) of $jobs jobs," \
  "concurrency $concurrency, enqueue batches of $batch"
for ((round = 1; round <= runs; round++)); do
  for system in dtq "${enabled[@]}"; do
    run_one "$system" "$round"
  done
done

python3 "$root/scripts/bench/table.py" "$results" "${enabled[@]}"

if [[ $others == 1 ]]; then
  for bench in "$build"/bin/*_bench; do
    [[ $(basename "$bench") == engine_bench ]] && continue
    echo "== $(basename "$bench")"
    "$bench" --benchmark_counters_tabular=true || failed=1
  done
  echo "== isolation_cost"
  python3 "$root/bench/isolation_cost.py" "$build" || failed=1
  echo "== process_bench"
  python3 "$root/bench/process_bench.py" "$build" --distributed || failed=1
fi
exit "$failed"
