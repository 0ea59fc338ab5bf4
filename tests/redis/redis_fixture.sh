#!/usr/bin/env bash
# ctest fixture `redis_server`: starts (start) or stops (stop) the Redis
# server that the redis-labelled tests share, through scripts/servers/redis.sh,
# on a loopback port free now and below the ephemeral range, in STATE_DIR;
# the port goes to STATE_DIR/port for the tests (DTQ_TEST_REDIS_STATE names
# the folder).
#
#   tests/redis/redis_fixture.sh start|stop STATE_DIR
set -euo pipefail
command=${1:?start or stop}
state=${2:?state folder}
script=$(cd "$(dirname "$0")/../../scripts/servers" && pwd)/redis.sh

stop() {
  [[ -f $state/port ]] || return 0
  DTQ_SERVERS_DIR=$state DTQ_REDIS_PORT=$(<"$state/port") "$script" stop
  rm -rf "$state"
}

case $command in
  start)
    stop # a server left by an interrupted run
    mkdir -p "$state"
    # Below the kernel's ephemeral range (32768 on), so that no client
    # socket can take the port while the server is down.
    python=/usr/bin/python3
    [[ -x $python ]] || python=python3 # the shims of a version manager start slowly
    port=$("$python" - <<'PY'
import random, socket, sys
for _ in range(500):
    port = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        sys.exit(0)
    except OSError:
        pass
    finally:
        s.close()
sys.exit("no free port in 20000..32000")
PY
)
    echo "$port" >"$state/port"
    DTQ_SERVERS_DIR=$state DTQ_REDIS_PORT=$port "$script" start
    ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
