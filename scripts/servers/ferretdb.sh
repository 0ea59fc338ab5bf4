#!/usr/bin/env bash
# A MongoDB wire-protocol test server: FerretDB v1 on its SQLite backend, on
# 127.0.0.1:$DTQ_MONGO_PORT (default 21017), data in
# $DTQ_SERVERS_DIR/ferretdb/data. No authentication, telemetry off.
#
#   scripts/servers/ferretdb.sh start|stop|restart|status|env|clean|build
#
# The binary is built once from the Go module proxy's source of the pinned
# version and cached in $DTQ_CACHE_DIR/ferretdb/<version>/ferretdb (`build`
# does only that). The module's hash is checked against the pin below (and
# by the go command against the checksum database).
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`:
# the module zip has no build/version/version.txt, and a binary whose main
# module is FerretDB itself panics at start-up without it. The script builds
# a copy of the module source with version.txt and commit.txt written as the
# release build writes them.
#
# Environment: DTQ_MONGO_PORT, DTQ_SERVERS_DIR, DTQ_CACHE_DIR,
# DTQ_SERVER_START_TIMEOUT (seconds, default 30).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferretdb_module=github.com/FerretDB/FerretDB
ferretdb_version=v1.24.2
ferretdb_sum="h1:trrUU0LbmusMbyubhPS1IELncvrIwKrsRT2LW1UUWCw="
ferretdb_commit=cda72d440810406a208c4670aa7047f5bc8d528f

port=${DTQ_MONGO_PORT:-21017}
binary=$DTQ_CACHE_DIR/ferretdb/$ferretdb_version/ferretdb
server_init ferretdb "ferretdb .*--listen-addr=127\.0\.0\.1:$port( |\$)"

ping() { "$(server_python)" "$(dirname "${BASH_SOURCE[0]}")/probe.py" mongo "$port"; }

do_build() {
  local version=""
  if [[ -x $binary ]]; then version=$("$binary" --version 2>/dev/null || true); fi
  [[ $'\n'$version$'\n' == *$'\n'"version: $ferretdb_version"$'\n'* ]] && return 0
  command -v go >/dev/null || die "go not found; FerretDB is built with the Go toolchain"
  local started
  started=$(now_seconds)
  say "building FerretDB $ferretdb_version from the Go module proxy (once; cached in $(dirname "$binary"))"
  local info dir sum
  info=$(cd / && GOFLAGS=-mod=mod go mod download -json "$ferretdb_module@$ferretdb_version") ||
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
  mkdir -p "$(dirname "$binary")"
  if ! (cd "$work" && GOFLAGS=-buildvcs=false go build -trimpath -o "$binary.part" ./cmd/ferretdb); then
    rm -rf "$work"
    die "FerretDB build failed"
  fi
  rm -rf "$work"
  mv -f "$binary.part" "$binary"
  say "built $binary in $(elapsed_since "$started")s"
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
  server_launch "$binary" --listen-addr="$DTQ_SERVERS_HOST:$port" --handler=sqlite \
    --sqlite-url="file:$SERVER_DIR/data/" --state-dir="$SERVER_DIR/state" --debug-addr=- \
    --telemetry=disable --log-level=warn --log-format=text
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-30}" ping
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
