#!/usr/bin/env bash
# The PostgreSQL server that River runs on in `make bench`
# (docs/benchmarks.md): a throwaway cluster made by Debian's own binaries
# (initdb and postgres under /usr/lib/postgresql/<newest>/bin) on
# 127.0.0.1:$DTQ_BENCH_POSTGRES_PORT (default 21532), durable as shipped:
# fsync on, synchronous_commit on (a commit returns once its WAL is flushed
# to disk), full_page_writes on. Trust authentication, loopback only, no
# Unix socket. `start` makes a new cluster, `stop` removes it.
#
#   scripts/bench/postgres.sh start|stop|status|env
#
# PostgreSQL refuses to run as root; as root the cluster belongs to the
# `postgres` user that Debian's package creates, and the server runs as it.
# Environment: DTQ_BENCH_POSTGRES_PORT, DTQ_SERVERS_DIR.
# shellcheck source-path=SCRIPTDIR source=../servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../servers/lib.sh"

port=${DTQ_BENCH_POSTGRES_PORT:-21532}
server_init bench-postgres "postgres .*-p $port( |\$)"

pg_bin() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/postgres ]] || die "PostgreSQL's binaries not found under /usr/lib/postgresql; run scripts/install-deps.sh test"
  echo "$dir"
}

# as_owner CMD...: CMD as the cluster's owner (ourselves unless root).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

ping() { "$(pg_bin)/pg_isready" -q -h "$DTQ_SERVERS_HOST" -p "$port" -U postgres -d postgres; }

do_start() {
  local bin
  bin=$(pg_bin)
  if server_running && ping; then
    say "already running on $DTQ_SERVERS_HOST:$port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  require_free_port "$port" DTQ_BENCH_POSTGRES_PORT
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root, and there is no postgres user to run PostgreSQL as"
  fi
  local started
  started=$(now_seconds)
  rm -rf "$SERVER_DIR/data"
  mkdir -p "$SERVER_DIR/data"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$SERVER_DIR/data"
  as_owner "$bin/initdb" -D "$SERVER_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$SERVER_DIR/initdb.log" 2>&1 || {
    tail -n 20 "$SERVER_DIR/initdb.log" >&2
    die "initdb failed (log: $SERVER_DIR/initdb.log)"
  }
  # The durability settings are PostgreSQL's defaults, spelled out so that
  # the bench reads them back and nobody's postgresql.conf changes them.
  local owner=()
  [[ $(id -u) -eq 0 ]] && owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  server_launch "${owner[@]}" "$bin/postgres" -D "$SERVER_DIR/data" -p "$port" \
    -c listen_addresses="$DTQ_SERVERS_HOST" -c unix_socket_directories= \
    -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200 \
    -c logging_collector=off -c log_min_messages=warning
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-30}" ping
  echo "bench-postgres ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (fsync on, synchronous_commit on)"
}

do_stop() {
  local pid
  # A fast shutdown (SIGINT): clients are disconnected, not waited for.
  if pid=$(server_pid); then kill -INT "$pid" 2>/dev/null || true; fi
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"
  rm -rf "$SERVER_DIR/data"
}
do_status() { server_status "$port" ping; }
do_env() { echo "DTQ_BENCH_POSTGRES_DSN=postgres://postgres@$DTQ_SERVERS_HOST:$port/postgres?sslmode=disable"; }

server_main "$@"
