#!/usr/bin/env bash
# A MongoDB wire-protocol test server: FerretDB v1 on its SQLite backend, on
# 127.0.0.1:$DTQ_MONGO_PORT (default 21017), data in
# $DTQ_SERVERS_DIR/ferretdb/data. No authentication, telemetry off.
#
#   scripts/servers/ferretdb.sh start|stop|restart|status|env|clean|build
#
# The binary is built once from the Go module proxy's source of the pinned
# version and cached in $DTQ_CACHE_DIR/ferretdb/<version>-<module hash>/ferretdb
# (`build` does only that), with the Go module and build caches under
# $DTQ_CACHE_DIR/go unless GOMODCACHE / GOCACHE name others. Concurrent
# callers build it once (cache_once in ../cache.sh). The module's hash is
# checked against the pin below (and by the go command against the
# checksum database).
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`:
# the module zip has no build/version/version.txt, and a binary whose main
# module is FerretDB itself panics at start-up without it. The script builds
# a copy of the module source with version.txt and commit.txt written as the
# release build writes them.
#
# Environment: DTQ_MONGO_PORT, DTQ_SERVERS_DIR, DTQ_CACHE_DIR,
# DTQ_SERVER_START_TIMEOUT (seconds, default 30).
#
# TLS, only when DTQ_MONGO_TLS_PORT is set: a second listener on
# 127.0.0.1:$DTQ_MONGO_TLS_PORT with the PEM files DTQ_TLS_CERT_FILE and
# DTQ_TLS_KEY_FILE (no client certificates). Credentials, only when
# DTQ_MONGO_USER is set: FerretDB's (experimental, v1.24) SCRAM
# authentication on both listeners, with the user DTQ_MONGO_USER /
# DTQ_MONGO_PASSWORD made in the database dtq at the first start; commands
# other than hello then need a login. Without either the server is as above.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferretdb_module=github.com/FerretDB/FerretDB
ferretdb_version=v1.24.2
ferretdb_sum="h1:trrUU0LbmusMbyubhPS1IELncvrIwKrsRT2LW1UUWCw="
ferretdb_commit=cda72d440810406a208c4670aa7047f5bc8d528f

port=${DTQ_MONGO_PORT:-21017}
# Keyed by version and module hash: a new pin never reuses an old binary.
ferretdb_key=$(printf '%s' "$ferretdb_sum" | sha256sum | cut -c1-12)
binary=$DTQ_CACHE_DIR/ferretdb/$ferretdb_version-$ferretdb_key/ferretdb
# What the Go module and build caches, the source copy and the binary take.
ferretdb_build_mib=1500
export GOMODCACHE=${GOMODCACHE:-$DTQ_CACHE_DIR/go/mod} GOCACHE=${GOCACHE:-$DTQ_CACHE_DIR/go/build}
# Writable module cache files, so that `rm -rf` can clear a cache folder.
export GOFLAGS="-modcacherw -buildvcs=false"
server_init ferretdb "ferretdb .*--listen-addr=127\.0\.0\.1:$port( |\$)"

ping() { "$(server_python)" "$(dirname "${BASH_SOURCE[0]}")/probe.py" mongo "$port"; }

ferretdb_valid() {
  [[ -x $1 ]] || return 1
  local version
  version=$("$1" --version 2>/dev/null) || return 1
  [[ $'\n'$version$'\n' == *$'\n'"version: $ferretdb_version"$'\n'* ]]
}

do_build() {
  ferretdb_valid "$binary" && return 0
  command -v go >/dev/null || die "go not found; FerretDB is built with the Go toolchain"
  cache_require_space "$DTQ_CACHE_DIR" "$ferretdb_build_mib" "building FerretDB"
  cache_once "$binary" ferretdb_valid build_ferretdb
}

# build_ferretdb OUT: compiles the pinned FerretDB into OUT.
build_ferretdb() {
  local out=$1 started
  started=$(now_seconds)
  say "building FerretDB $ferretdb_version from the Go module proxy (once; cached in $(dirname "$binary"))"
  local info dir sum
  info=$(cd / && GOFLAGS="$GOFLAGS -mod=mod" go mod download -json "$ferretdb_module@$ferretdb_version") ||
    die "cannot download $ferretdb_module@$ferretdb_version"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$info")
  [[ $sum == "$ferretdb_sum" ]] || die "module hash of $ferretdb_module@$ferretdb_version is $sum, pinned $ferretdb_sum"
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/dtq-ferretdb-build.XXXXXX")
  cp -r "$dir/." "$work/"
  chmod -R u+w "$work"
  echo "$ferretdb_version" >"$work/build/version/version.txt"
  echo "$ferretdb_commit" >"$work/build/version/commit.txt"
  echo "dtq-test-server" >"$work/build/version/package.txt"
  if ! (cd "$work" && go build -trimpath -o "$out" ./cmd/ferretdb); then
    rm -rf "$work"
    die "FerretDB build failed"
  fi
  rm -rf "$work"
  say "built FerretDB in $(elapsed_since "$started")s"
}

do_start() {
  if server_running && ping >/dev/null 2>&1; then
    say "already running on $DTQ_SERVERS_HOST:$port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  local started
  started=$(now_seconds)
  do_build
  require_free_port "$port" DTQ_MONGO_PORT
  mkdir -p "$SERVER_DIR/data" "$SERVER_DIR/state"
  local extra=()
  if [[ -n ${DTQ_MONGO_TLS_PORT:-} ]]; then
    [[ -r ${DTQ_TLS_CERT_FILE:-} && -r ${DTQ_TLS_KEY_FILE:-} ]] ||
      die "DTQ_MONGO_TLS_PORT needs readable DTQ_TLS_CERT_FILE and DTQ_TLS_KEY_FILE"
    require_free_port "$DTQ_MONGO_TLS_PORT" DTQ_MONGO_TLS_PORT
    extra+=(--listen-tls="$DTQ_SERVERS_HOST:$DTQ_MONGO_TLS_PORT"
      --listen-tls-cert-file="$DTQ_TLS_CERT_FILE" --listen-tls-key-file="$DTQ_TLS_KEY_FILE")
  fi
  if [[ -n ${DTQ_MONGO_USER:-} ]]; then
    # The password goes by the environment, not the command line (ps).
    export FERRETDB_SETUP_PASSWORD=${DTQ_MONGO_PASSWORD:?DTQ_MONGO_USER needs DTQ_MONGO_PASSWORD}
    extra+=(--test-enable-new-auth --setup-database=dtq --setup-username="$DTQ_MONGO_USER")
  fi
  server_launch "$binary" --listen-addr="$DTQ_SERVERS_HOST:$port" --handler=sqlite \
    --sqlite-url="file:$SERVER_DIR/data/" --state-dir="$SERVER_DIR/state" --debug-addr=- \
    --telemetry=disable --log-level=warn --log-format=text "${extra[@]}"
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-30}" ping
  [[ -z ${DTQ_MONGO_TLS_PORT:-} ]] || server_wait_ready 10 port_open "$DTQ_MONGO_TLS_PORT"
  echo "ferretdb ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (log: $SERVER_LOG)"
}

do_stop() { server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"; }
do_status() { server_status "$port" ping; }
do_env() { echo "DTQ_MONGODB_URI=mongodb://$DTQ_SERVERS_HOST:$port/dtq"; }

if [[ ${1:-} == build ]]; then
  do_build
  exit 0
fi
server_main "$@"
