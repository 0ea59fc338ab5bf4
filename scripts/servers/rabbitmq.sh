#!/usr/bin/env bash
# A RabbitMQ test broker (Debian's rabbitmq-server, run as the current user,
# not the system service) on 127.0.0.1:$DTQ_AMQP_PORT (default 21672), in
# $DTQ_SERVERS_DIR/rabbitmq: its own node name, Mnesia and log folders, its
# own Erlang cookie (HOME is that folder) and its own epmd on
# $DTQ_EPMD_PORT (default 21369), started and stopped by this script. User
# guest/guest, loopback only; no plugins.
#
#   scripts/servers/rabbitmq.sh start|stop|restart|status|env|clean
#   scripts/servers/rabbitmq.sh ctl COMMAND...   rabbitmqctl against this node
#
# Environment: DTQ_AMQP_PORT, DTQ_EPMD_PORT, DTQ_AMQP_DIST_PORT (default
# AMQP port + 1), DTQ_SERVERS_DIR, DTQ_SERVER_START_TIMEOUT (seconds,
# default 60).
#
# TLS (AMQPS), only when DTQ_AMQPS_PORT is set: a second listener on
# 127.0.0.1:$DTQ_AMQPS_PORT with the PEM files DTQ_TLS_CERT_FILE,
# DTQ_TLS_KEY_FILE and DTQ_TLS_CA_FILE (the CA of client certificates, which
# are checked when a client sends one and not required). The plain listener
# stays as it is.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${DTQ_AMQP_PORT:-21672}
epmd_port=${DTQ_EPMD_PORT:-21369}
dist_port=${DTQ_AMQP_DIST_PORT:-$((port + 1))}
node=dtq-rabbit-$port@localhost
rabbit_bin=${DTQ_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
# The pid is the rabbitmq-server script's; its environment names the node.
server_init rabbitmq "rabbitmq-server .*RABBITMQ_NODENAME=$node( |\$)"

# The environment every RabbitMQ and Erlang command of this node runs with.
rabbit_vars=(
  HOME="$SERVER_DIR"
  ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS="$DTQ_SERVERS_HOST"
  RABBITMQ_NODENAME="$node" RABBITMQ_USE_LONGNAME=false
  RABBITMQ_NODE_IP_ADDRESS="$DTQ_SERVERS_HOST" RABBITMQ_NODE_PORT="$port"
  RABBITMQ_DIST_PORT="$dist_port"
  RABBITMQ_MNESIA_BASE="$SERVER_DIR/mnesia" RABBITMQ_LOG_BASE="$SERVER_DIR/log"
  RABBITMQ_CONFIG_FILE="$SERVER_DIR/rabbitmq.conf"
  RABBITMQ_ADVANCED_CONFIG_FILE="$SERVER_DIR/advanced.config"
  RABBITMQ_ENABLED_PLUGINS_FILE="$SERVER_DIR/enabled_plugins"
  RABBITMQ_CONF_ENV_FILE="$SERVER_DIR/rabbitmq-env.conf"
)

amqps_port=${DTQ_AMQPS_PORT:-}

ping() { "$(server_python)" "$(dirname "${BASH_SOURCE[0]}")/probe.py" amqp "$port"; }

# epmd, the Erlang port mapper, runs beside the node on its own port; the
# script starts it (in the foreground of its own session) and stops it.
epmd_pidfile=$SERVER_DIR/epmd.pid
epmd_pid() {
  [[ -s $epmd_pidfile ]] || return 1
  local pid
  pid=$(<"$epmd_pidfile")
  local text pattern="epmd.* -port $epmd_port( |\$)"
  text=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $text =~ $pattern ]] || return 1
  echo "$pid"
}

start_epmd() {
  if epmd_pid >/dev/null; then return 0; fi
  require_free_port "$epmd_port" DTQ_EPMD_PORT
  local epmd
  local candidates=(/usr/lib/erlang/erts-*/bin/epmd)
  epmd=${candidates[0]}
  [[ -x $epmd ]] || epmd=""
  [[ -n $epmd ]] || epmd=$(command -v epmd) || die "epmd not found (Debian erlang-base)"
  setsid "$epmd" -address "$DTQ_SERVERS_HOST" -port "$epmd_port" </dev/null >>"$SERVER_DIR/epmd.log" 2>&1 &
  echo $! >"$epmd_pidfile"
  local tries=0
  until port_open "$epmd_port"; do
    ((tries++ < 50)) || die "epmd did not listen on $epmd_port (log: $SERVER_DIR/epmd.log)"
    sleep 0.1
  done
}

stop_epmd() {
  local pid
  if pid=$(epmd_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    local tries=0
    while process_alive "$pid" && ((tries++ < 50)); do sleep 0.1; done
    if process_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$epmd_pidfile"
}

do_start() {
  [[ -x $rabbit_bin/rabbitmq-server ]] || die "RabbitMQ not found in $rabbit_bin; run scripts/install-deps.sh test"
  if server_running && ping >/dev/null 2>&1; then
    say "already running on $DTQ_SERVERS_HOST:$port (node $node)"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  require_free_port "$port" DTQ_AMQP_PORT
  require_free_port "$dist_port" DTQ_AMQP_DIST_PORT
  [[ -z $amqps_port ]] || require_free_port "$amqps_port" DTQ_AMQPS_PORT
  local started
  started=$(now_seconds)
  mkdir -p "$SERVER_DIR/mnesia" "$SERVER_DIR/log"
  cat >"$SERVER_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = $DTQ_SERVERS_HOST:$port
loopback_users.guest = true
log.console = true
log.console.level = warning
log.file.level = info
CONF
  if [[ -n $amqps_port ]]; then
    local file
    for file in "${DTQ_TLS_CERT_FILE:-}" "${DTQ_TLS_KEY_FILE:-}" "${DTQ_TLS_CA_FILE:-}"; do
      [[ -r $file ]] || die "DTQ_AMQPS_PORT needs readable DTQ_TLS_CERT_FILE, DTQ_TLS_KEY_FILE and DTQ_TLS_CA_FILE"
    done
    cat >>"$SERVER_DIR/rabbitmq.conf" <<CONF
listeners.ssl.default = $DTQ_SERVERS_HOST:$amqps_port
ssl_options.certfile = $DTQ_TLS_CERT_FILE
ssl_options.keyfile = $DTQ_TLS_KEY_FILE
ssl_options.cacertfile = $DTQ_TLS_CA_FILE
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
CONF
  fi
  # The Erlang distribution (CLI tools) listens on loopback only, too.
  echo "[{kernel, [{inet_dist_use_interface, {127, 0, 0, 1}}]}]." >"$SERVER_DIR/advanced.config"
  echo "[]." >"$SERVER_DIR/enabled_plugins"
  : >"$SERVER_DIR/rabbitmq-env.conf"
  start_epmd
  # The rabbitmq-server shell script stays as the parent of the Erlang VM
  # and turns SIGTERM into a clean shutdown.
  server_launch env "${rabbit_vars[@]}" "$rabbit_bin/rabbitmq-server"
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-60}" ping
  # The TLS listener opens with the plain one; wait for it all the same.
  [[ -z $amqps_port ]] || server_wait_ready 10 port_open "$amqps_port"
  echo "rabbitmq ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (node $node, log: $SERVER_LOG)"
}

do_stop() {
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-30}"
  stop_epmd
}

do_status() {
  server_status "$port" ping || return $?
  env "${rabbit_vars[@]}" "$rabbit_bin/rabbitmq-diagnostics" -q -n "$node" ping
}

do_env() { echo "DTQ_AMQP_URL=amqp://guest:guest@$DTQ_SERVERS_HOST:$port/%2f"; }

if [[ ${1:-} == ctl ]]; then
  shift
  env "${rabbit_vars[@]}" "$rabbit_bin/rabbitmqctl" -n "$node" "$@"
  exit $?
fi
server_main "$@"
