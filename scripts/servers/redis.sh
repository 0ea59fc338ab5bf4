#!/usr/bin/env bash
# A Redis test server (Debian's redis-server) on 127.0.0.1:$DTQ_REDIS_PORT
# (default 21379), in $DTQ_SERVERS_DIR/redis. No password. Data is saved at
# a clean stop (SIGTERM) and loaded at the next start; `clean` removes it,
# `flush` empties the running server.
#
#   scripts/servers/redis.sh start|stop|restart|status|env|clean|flush
#
# Environment: DTQ_REDIS_PORT, DTQ_SERVERS_DIR, DTQ_SERVER_START_TIMEOUT
# (seconds, default 20).
#
# A Redis for another use (scripts/bench/redis.sh) sources this script with
# its arguments, after setting these shell variables:
#   redis_name          its folder and pid file under $DTQ_SERVERS_DIR (default redis)
#   redis_port_var      the variable that names its port (default DTQ_REDIS_PORT)
#   redis_default_port  the port when that variable is unset (default 21379)
#   redis_flags         an array: its persistence and log level (default: dump.rdb
#                       at a clean stop, nothing written while running)
#   redis_fresh         1: `start` begins from an empty data folder, `stop` removes it
# and, if its `env` says something else, its own do_env.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

redis_name=${redis_name:-redis}
redis_port_var=${redis_port_var:-DTQ_REDIS_PORT}
port=${!redis_port_var:-${redis_default_port:-21379}}
if [[ -z ${redis_flags+set} ]]; then
  # `save` makes the SIGTERM shutdown write dump.rdb, so a restart keeps the
  # data; nothing is written while running.
  redis_flags=(--save "" --save "86400 1" --appendonly no --databases 16 --loglevel notice)
fi
# Redis rewrites its command line to `redis-server HOST:PORT` once started.
server_init "$redis_name" "redis-server.*[ :]$port( |\$)"

cli() { redis-cli -h "$DTQ_SERVERS_HOST" -p "$port" "$@"; }
ping() { [[ $(cli ping 2>/dev/null) == PONG ]]; }

do_start() {
  command -v redis-server >/dev/null || die "redis-server not found; run scripts/install-deps.sh test"
  if server_running && ping; then
    say "already running on $DTQ_SERVERS_HOST:$port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  require_free_port "$port" "$redis_port_var"
  [[ ${redis_fresh:-} != 1 ]] || rm -rf "$SERVER_DIR/data"
  mkdir -p "$SERVER_DIR/data"
  local started
  started=$(now_seconds)
  server_launch redis-server --bind "$DTQ_SERVERS_HOST" --port "$port" --dir "$SERVER_DIR/data" \
    --daemonize no --protected-mode yes --logfile "" "${redis_flags[@]}"
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-20}" ping
  echo "$redis_name ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (log: $SERVER_LOG)"
}

do_stop() {
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"
  [[ ${redis_fresh:-} != 1 ]] || rm -rf "$SERVER_DIR/data"
}
do_status() { server_status "$port" ping; }
declare -F do_env >/dev/null || do_env() { echo "DTQ_REDIS_URL=redis://$DTQ_SERVERS_HOST:$port/0"; }

if [[ ${1:-} == flush ]]; then
  [[ $(cli flushall 2>&1) == OK ]] || die "FLUSHALL failed on $DTQ_SERVERS_HOST:$port"
  exit 0
fi
server_main "$@"
