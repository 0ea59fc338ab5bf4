#!/usr/bin/env bash
# ctest fixture `distributed_servers`: starts (start) or removes (stop) one of
# the four servers the distributed functional test runs on, through its
# script in scripts/servers/, in STATE_DIR/SERVER, on loopback ports chosen
# free now and below the kernel's ephemeral range (so no client socket can
# hold them). The server's URL line (what `SERVER.sh env` prints, e.g.
# DTQ_REDIS_URL=redis://127.0.0.1:PORT/0) goes to STATE_DIR/SERVER/env for
# the test (DTQ_TEST_DISTRIBUTED_STATE names STATE_DIR).
#
#   tests/functional/distributed_servers.sh redis|rabbitmq|kafka|ferretdb start|stop STATE_DIR
set -euo pipefail
server=${1:?redis, rabbitmq, kafka or ferretdb}
command=${2:?start or stop}
state=${3:?state folder}/$server
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
    redis) echo "DTQ_REDIS_PORT=$port" ;;
    ferretdb) echo "DTQ_MONGO_PORT=$port" ;;
    kafka) echo "DTQ_KAFKA_PORT=$port" ;; # the controller listens on port + 1
    rabbitmq)
      echo "DTQ_AMQP_PORT=$port" # the Erlang distribution on port + 1
      echo "DTQ_EPMD_PORT=$(<"$state/epmd_port")"
      ;;
  esac
}

# pick SPAN [AVOID...]: a free port P (with P+1 … P+SPAN-1 free too) in
# [20000, 32000), none of them in AVOID.
pick() {
  python=/usr/bin/python3
  [[ -x $python ]] || python=python3
  "$python" - "$@" <<'PY'
import random, socket, sys
span = int(sys.argv[1])
avoid = {int(p) for p in sys.argv[2:]}
def free(port):
    if port in avoid:
        return False
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500):
    port = random.randrange(20000, 32000 - span)
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
        port=$(pick 2)
        echo "$port" >"$state/port"
        pick 1 "$port" $((port + 1)) >"$state/epmd_port"
        ;;
      kafka) pick 2 >"$state/port" ;;
      *) pick 1 >"$state/port" ;;
    esac
    env $(server_env) "$script" start
    env $(server_env) "$script" env >"$state/env"
    ;;
  stop) stop ;;
  *)
    echo "usage: $0 redis|rabbitmq|kafka|ferretdb start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
