#!/usr/bin/env bash
# ctest fixture for the distributed adapters' tests: starts (start) or
# removes (stop) one test server of scripts/servers/ in STATE_DIR, on ports
# chosen free now in [20000, 29000) (below the kernel's ephemeral range and
# the Kafka tests' 29092); the port is written to STATE_DIR/port for the
# tests (see tests/support/scripted_server.hpp).
#
#   tests/support/server_fixture.sh ferretdb|rabbitmq start|stop STATE_DIR
set -euo pipefail
server=${1:?ferretdb or rabbitmq}
command=${2:?start or stop}
state=${3:?state folder}
script=$(cd "$(dirname "$0")/../../scripts/servers" && pwd)/$server.sh
[[ -x $script ]] || {
  echo "no server script $script" >&2
  exit 2
}

# The environment of the server's script: its folder and its ports.
server_env() {
  local port
  port=$(<"$state/port")
  echo "DTQ_SERVERS_DIR=$state/servers"
  case $server in
    ferretdb) echo "DTQ_MONGO_PORT=$port" ;;
    rabbitmq)
      echo "DTQ_AMQP_PORT=$port"
      echo "DTQ_EPMD_PORT=$(<"$state/epmd_port")"
      ;;
  esac
}

# pick SPAN: a free port P (with P+1 … P+SPAN-1 free too) in [20000, 29000).
pick() {
  python=/usr/bin/python3
  [[ -x $python ]] || python=python3
  "$python" - "$1" <<'PY'
import random, socket, sys
span = int(sys.argv[1])
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500):
    port = random.randrange(20000, 29000 - span)
    if all(free(port + i) for i in range(span)):
        print(port)
        sys.exit(0)
sys.exit("no free port")
PY
}

stop() {
  [[ -f $state/port ]] || return 0
  env $(server_env) "$script" clean
  rm -rf "$state"
}

case $command in
  start)
    stop # a server left by an interrupted run
    mkdir -p "$state"
    case $server in
      rabbitmq)
        pick 2 >"$state/port" # AMQP and the Erlang distribution (AMQP + 1)
        epmd=$(pick 1)
        while ((epmd == $(<"$state/port") || epmd == $(<"$state/port") + 1)); do epmd=$(pick 1); done
        echo "$epmd" >"$state/epmd_port"
        ;;
      *) pick 1 >"$state/port" ;;
    esac
    env $(server_env) "$script" start
    ;;
  stop) stop ;;
  *)
    echo "usage: $0 ferretdb|rabbitmq start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
