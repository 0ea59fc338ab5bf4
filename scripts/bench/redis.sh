#!/usr/bin/env bash
# The Redis server that BullMQ runs on in `make bench` (docs/benchmarks.md):
# Debian's redis-server on 127.0.0.1:$DTQ_BENCH_REDIS_PORT (default 21579),
# durable as BullMQ's documentation asks of a production Redis: the
# append-only file on, fsynced every second (`--appendonly yes
# --appendfsync everysec`), no eviction. Its data is thrown away: `start`
# begins from an empty folder, `stop` removes it.
#
#   scripts/bench/redis.sh start|stop|status|env|flush
#
# It is not the test server of scripts/servers/redis.sh (no persistence
# there, another port): a bench never shares a server with a running test.
# Environment: DTQ_BENCH_REDIS_PORT, DTQ_SERVERS_DIR.
# shellcheck source-path=SCRIPTDIR source=../servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../servers/lib.sh"

port=${DTQ_BENCH_REDIS_PORT:-21579}
server_init bench-redis "redis-server.*[ :]$port( |\$)"

cli() { redis-cli -h "$DTQ_SERVERS_HOST" -p "$port" "$@"; }
ping() { [[ $(cli ping 2>/dev/null) == PONG ]]; }

do_start() {
  command -v redis-server >/dev/null || die "redis-server not found; run scripts/install-deps.sh test"
  if server_running && ping; then
    say "already running on $DTQ_SERVERS_HOST:$port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  require_free_port "$port" DTQ_BENCH_REDIS_PORT
  rm -rf "$SERVER_DIR/data"
  mkdir -p "$SERVER_DIR/data"
  local started
  started=$(now_seconds)
  # No RDB snapshots: the AOF is the persistence, as configured for BullMQ.
  server_launch redis-server --bind "$DTQ_SERVERS_HOST" --port "$port" --dir "$SERVER_DIR/data" \
    --daemonize no --save "" --appendonly yes --appendfsync everysec \
    --maxmemory-policy noeviction --protected-mode yes --loglevel warning --logfile ""
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-20}" ping
  echo "bench-redis ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (appendonly yes, appendfsync everysec)"
}

do_stop() {
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"
  rm -rf "$SERVER_DIR/data"
}
do_status() { server_status "$port" ping; }
do_env() { echo "DTQ_BENCH_REDIS_PORT=$port"; }

# Between two runs: an empty server, as dtq's engine_bench starts from an
# empty data folder each run.
if [[ ${1:-} == flush ]]; then
  [[ $(cli flushall 2>&1) == OK ]] || die "FLUSHALL failed on $DTQ_SERVERS_HOST:$port"
  exit 0
fi
server_main "$@"
