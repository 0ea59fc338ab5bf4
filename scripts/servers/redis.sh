#!/usr/bin/env bash
# A Redis test server (Debian's redis-server) on 127.0.0.1:$DTQ_REDIS_PORT
# (default 21379), in $DTQ_SERVERS_DIR/redis. No password. Data is saved at
# a clean stop (SIGTERM) and loaded at the next start; `clean` removes it.
#
#   scripts/servers/redis.sh start|stop|restart|status|env|clean
#
# Environment: DTQ_REDIS_PORT, DTQ_SERVERS_DIR, DTQ_SERVER_START_TIMEOUT
# (seconds, default 20).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${DTQ_REDIS_PORT:-21379}
# Redis rewrites its command line to `redis-server HOST:PORT` once started.
server_init redis "redis-server.*[ :]$port( |\$)"

ping() { [[ $(redis-cli -h "$DTQ_SERVERS_HOST" -p "$port" ping 2>/dev/null) == PONG ]]; }

do_start() {
  command -v redis-server >/dev/null || die "redis-server not found; run scripts/install-deps.sh test"
  if server_running && ping; then
    say "already running on $DTQ_SERVERS_HOST:$port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  require_free_port "$port" DTQ_REDIS_PORT
  mkdir -p "$SERVER_DIR/data"
  local started
  started=$(now_seconds)
  # `save` makes the SIGTERM shutdown write dump.rdb, so a restart keeps the
  # data; nothing is written while running.
  server_launch redis-server --bind "$DTQ_SERVERS_HOST" --port "$port" --dir "$SERVER_DIR/data" \
    --daemonize no --save "" --save "86400 1" --appendonly no --protected-mode yes \
    --databases 16 --loglevel notice --logfile ""
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-20}" ping
  echo "redis ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (log: $SERVER_LOG)"
}

do_stop() { server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"; }
do_status() { server_status "$port" ping; }
do_env() { echo "DTQ_REDIS_URL=redis://$DTQ_SERVERS_HOST:$port/0"; }

server_main "$@"
