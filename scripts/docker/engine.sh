#!/usr/bin/env bash
# A private Docker engine (Debian's docker.io dockerd) for the tests: no
# iptables rules, no default bridge, its own socket, pid file and exec root
# in $DTQ_DOCKER_DIR, so it never touches a system engine. User-defined
# bridge networks (compose's) work, with service-name DNS, and ports
# published on 127.0.0.1 are forwarded by docker-proxy.
#
#   scripts/docker/engine.sh start|stop|status|env
#
# Its data root (images and build layers) is kept in
# $DTQ_CACHE_DIR/docker/engine-root, so that a second run reuses the base
# image and every cached layer; one engine at a time may use it (an
# exclusive lock beside it, held by the engine for its life: a second start
# waits up to DTQ_DOCKER_LOCK_WAIT seconds, default 1200). overlay2 when the
# file system takes it, else vfs (slower, more disk).
#
# Environment: DTQ_DOCKER_DIR (default $DTQ_SERVERS_DIR/docker; keep it short:
# unix sockets live there), DTQ_DOCKER_DATA_ROOT, DTQ_DOCKER_STORAGE_DRIVER,
# DTQ_CACHE_DIR, DTQ_SERVER_START_TIMEOUT (seconds, default 60).
# shellcheck source-path=SCRIPTDIR source=../servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../servers/lib.sh"

DTQ_DOCKER_DIR=${DTQ_DOCKER_DIR:-$DTQ_SERVERS_DIR/docker}
data_root=${DTQ_DOCKER_DATA_ROOT:-$DTQ_CACHE_DIR/docker/engine-root}
socket=$DTQ_DOCKER_DIR/docker.sock
# server_init keeps its files in $DTQ_SERVERS_DIR/NAME: point it at ours.
DTQ_SERVERS_DIR=$(dirname "$DTQ_DOCKER_DIR")
server_init "$(basename "$DTQ_DOCKER_DIR")" "dockerd .*-H unix://$socket( |\$)"
SERVER_NAME=docker

ping() { DOCKER_HOST=unix://$socket docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

storage_driver() {
  if [[ -n ${DTQ_DOCKER_STORAGE_DRIVER:-} ]]; then
    echo "$DTQ_DOCKER_STORAGE_DRIVER"
    return
  fi
  # overlay2 needs an upper directory on a file system that supports it; a
  # data root left by an earlier run says which driver it was made with.
  if [[ -d $data_root/vfs && ! -d $data_root/overlay2 ]]; then echo vfs; else echo overlay2; fi
}

launch() {
  local driver=$1
  # The lock is taken in the launched shell and inherited by dockerd (exec),
  # so it is held exactly as long as the engine lives.
  server_launch bash -c '
    exec 9>>"$1.lock"
    flock -w "$2" 9 || { echo "docker: data root $1 is in use by another engine" >&2; exit 75; }
    shift 2
    exec "$@"' dockerd-locked "$data_root" "${DTQ_DOCKER_LOCK_WAIT:-1200}" \
    dockerd --iptables=false --ip-masq=false --bridge=none --storage-driver="$driver" \
    --data-root="$data_root" --exec-root="$DTQ_DOCKER_DIR/exec" --pidfile="$DTQ_DOCKER_DIR/dockerd.pid" \
    -H "unix://$socket" --log-level=warn
}

do_start() {
  command -v dockerd >/dev/null || die "dockerd not found; run scripts/install-deps.sh test (Debian docker.io)"
  if server_running && ping; then
    say "already running at unix://$socket"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "dockerd needs root"
  ((${#socket} < 100)) || die "socket path $socket is too long for a unix socket; choose a shorter DTQ_DOCKER_DIR"
  rm -f "$SERVER_PIDFILE" "$socket"
  mkdir -p "$DTQ_DOCKER_DIR" "$data_root"
  cache_require_space "$data_root" 4096 "the test Docker engine's images"
  local started driver
  started=$(now_seconds)
  driver=$(storage_driver)
  launch "$driver"
  # In a subshell: server_wait_ready exits on failure, and overlay2's
  # failure is one we can still recover from.
  if ! (server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-60}" ping); then
    [[ $driver == overlay2 ]] || die "dockerd did not start (log: $SERVER_LOG)"
    say "dockerd with overlay2 did not start (log: $SERVER_LOG); trying vfs"
    driver=vfs
    launch "$driver"
    server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-60}" ping
  fi
  echo "docker ready at unix://$socket in $(elapsed_since "$started")s (storage $driver, data root $data_root, log: $SERVER_LOG)"
}

do_stop() {
  # dockerd stops its containers (10 s each at most) and its containerd.
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-60}"
  # It leaves its network namespace (and, killed, maybe more) mounted under
  # the exec root: unmount them, deepest first, so the folder can go.
  local mounts
  mounts=$(awk -v dir="$DTQ_DOCKER_DIR/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r)
  if [[ -n $mounts ]]; then
    xargs -r -n1 umount -l <<<"$mounts" 2>/dev/null || true
  fi
}
do_status() { server_status 0 ping; }
do_env() { echo "DOCKER_HOST=unix://$socket"; }

server_main "$@"
