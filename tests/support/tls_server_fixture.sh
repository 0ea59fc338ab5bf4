#!/usr/bin/env bash
# ctest fixture for the TLS tests (tests/tls/): starts (start) or removes
# (stop) one test server of scripts/servers/ in STATE_DIR with TLS (and
# credentials) on, beside its plain listener: throwaway certificates made in
# STATE_DIR/certs by make_test_certs.sh, ports chosen free now in
# [20000, 29000) (as server_fixture.sh does for the plain fixtures, whose
# servers and ports this never touches). What the tests read:
#
#   STATE_DIR/port       the plain port (RabbitMQ, FerretDB, Kafka)
#   STATE_DIR/tls_port   the TLS one (AMQPS, MongoDB TLS, Kafka SASL_SSL)
#   STATE_DIR/user, STATE_DIR/password   the credentials the server takes
#   STATE_DIR/certs/     ca.pem, other-ca.pem, client.pem, client.key, ...
#
#   tests/support/tls_server_fixture.sh rabbitmq|ferretdb|kafka start|stop STATE_DIR
set -euo pipefail
server=${1:?rabbitmq, ferretdb or kafka}
command=${2:?start or stop}
state=${3:?state folder}
support=$(cd "$(dirname "$0")" && pwd)
script=$support/../../scripts/servers/$server.sh
[[ -x $script ]] || {
  echo "no server script $script" >&2
  exit 2
}

# The environment of the server's script: its folder, ports, TLS files and
# credentials.
server_env() {
  local port tls_port
  port=$(<"$state/port")
  tls_port=$(<"$state/tls_port")
  echo "DTQ_SERVERS_DIR=$state/servers"
  echo "DTQ_TLS_CERT_FILE=$state/certs/server.pem"
  echo "DTQ_TLS_KEY_FILE=$state/certs/server.key"
  echo "DTQ_TLS_CA_FILE=$state/certs/ca.pem"
  case $server in
    rabbitmq)
      echo "DTQ_AMQP_PORT=$port"
      echo "DTQ_AMQPS_PORT=$tls_port"
      echo "DTQ_EPMD_PORT=$(<"$state/epmd_port")"
      ;;
    ferretdb)
      echo "DTQ_MONGO_PORT=$port"
      echo "DTQ_MONGO_TLS_PORT=$tls_port"
      echo "DTQ_MONGO_USER=$(<"$state/user")"
      echo "DTQ_MONGO_PASSWORD=$(<"$state/password")"
      ;;
    kafka)
      echo "DTQ_KAFKA_PORT=$port"
      echo "DTQ_KAFKA_SASL_SSL_PORT=$tls_port"
      echo "DTQ_KAFKA_SASL_USER=$(<"$state/user")"
      echo "DTQ_KAFKA_SASL_PASSWORD=$(<"$state/password")"
      ;;
  esac
}

# pick SPAN [AVOID...]: a free port P (with P+1 … P+SPAN-1 free too) in
# [20000, 29000), none of them in AVOID.
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
    port = random.randrange(20000, 29000 - span)
    if all(free(port + i) for i in range(span)):
        print(port)
        sys.exit(0)
sys.exit("no free port")
PY
}

stop() {
  [[ -f $state/tls_port ]] || return 0
  # shellcheck disable=SC2046 # one NAME=VALUE per word
  env $(server_env) "$script" clean
  rm -rf "$state"
}

case $command in
  start)
    stop # a server left by an interrupted run
    mkdir -p "$state"
    "$support/make_test_certs.sh" "$state/certs"
    echo dtq >"$state/user"
    # Hex digits only: it goes into a JAAS line and a URI as it is.
    openssl rand -hex 12 >"$state/password"
    case $server in
      rabbitmq)
        port=$(pick 2) # AMQP and the Erlang distribution (AMQP + 1)
        tls_port=$(pick 1 "$port" $((port + 1)))
        pick 1 "$port" $((port + 1)) "$tls_port" >"$state/epmd_port"
        ;;
      kafka)
        port=$(pick 2) # the plain listener and the controller (+ 1)
        tls_port=$(pick 1 "$port" $((port + 1)))
        ;;
      *)
        port=$(pick 1)
        tls_port=$(pick 1 "$port")
        ;;
    esac
    echo "$port" >"$state/port"
    echo "$tls_port" >"$state/tls_port"
    # shellcheck disable=SC2046 # one NAME=VALUE per word
    env $(server_env) "$script" start
    ;;
  stop) stop ;;
  *)
    echo "usage: $0 rabbitmq|ferretdb|kafka start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
