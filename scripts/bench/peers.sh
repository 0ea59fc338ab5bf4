#!/usr/bin/env bash
# Installs the peers that `make bench` measures dtq against
# (docs/benchmarks.md), once, into the cache, and prints where they are.
#
#   scripts/bench/peers.sh bullmq   npm ci of bench/peers/bullmq's lockfile (bullmq@5)
#                                   into $DTQ_CACHE_DIR/bench/bullmq/<lockfile hash>/node_modules;
#                                   prints that node_modules folder (run bench.js with NODE_PATH=it)
#   scripts/bench/peers.sh river    go build of bench/peers/river (River and pgx, pinned by its
#                                   go.mod and go.sum) into
#                                   $DTQ_CACHE_DIR/bench/river/<source hash>/river-bench; prints the binary
#
# Each entry is keyed by the hash of what it is made from, so an edited
# lockfile or harness never reuses an old one, and made through cache_once
# (scripts/cache.sh): two runs at once build it once. npm's download cache
# is $DTQ_CACHE_DIR/npm, Go's module and build caches $DTQ_CACHE_DIR/go
# (shared with FerretDB's build), unless npm_config_cache, GOMODCACHE or
# GOCACHE name others. Only the registries are used: npm's for bullmq and its
# dependencies, the Go module proxy for River's modules.
set -euo pipefail
scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=$(cd "$scripts/../bench/peers" && pwd)
SERVER_NAME=bench-peers
# shellcheck source=../cache.sh
source "$scripts/cache.sh"

die() {
  echo "bench-peers: error: $*" >&2
  exit 1
}

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- BullMQ --------------------------------------------------------------------

install_bullmq() {
  local dest
  dest=$DTQ_CACHE_DIR/bench/bullmq/$(hash_of "$peers/bullmq/package.json" "$peers/bullmq/package-lock.json")/node_modules
  if [[ ! -f $dest/.package-lock.json ]]; then
    cache_require_space "$DTQ_CACHE_DIR" 200 "BullMQ's npm packages"
  fi
  npm_ci_cached "$peers/bullmq" --into "$dest" || die "npm ci of bench/peers/bullmq failed"
  echo "$dest"
}

# --- River ---------------------------------------------------------------------

river_valid() { [[ -x $1 ]] && "$1" -version >/dev/null 2>&1; }

river_build() {
  local out=$1
  echo "bench-peers: building bench/peers/river with River from the Go module proxy (once; cached in $(dirname "$out"))" >&2
  (cd "$peers/river" && go build -trimpath -o "$out" .) || die "building bench/peers/river failed"
}

install_river() {
  command -v go >/dev/null || die "go not found; River's harness is built with the Go toolchain (go.mod names the version)"
  export GOMODCACHE=${GOMODCACHE:-$DTQ_CACHE_DIR/go/mod} GOCACHE=${GOCACHE:-$DTQ_CACHE_DIR/go/build}
  # Writable module cache files, so that `rm -rf` can clear a cache folder;
  # go.mod and go.sum as committed, never rewritten.
  export GOFLAGS="-modcacherw -buildvcs=false -mod=readonly"
  local dest
  dest=$DTQ_CACHE_DIR/bench/river/$(hash_of "$peers/river/go.mod" "$peers/river/go.sum" "$peers/river/main.go")/river-bench
  if ! river_valid "$dest"; then
    cache_require_space "$DTQ_CACHE_DIR" 600 "River's Go modules and build"
    cache_once "$dest" river_valid river_build
  fi
  echo "$dest"
}

case ${1:-} in
  bullmq) install_bullmq ;;
  river) install_river ;;
  *)
    echo "usage: $(basename "$0") bullmq|river" >&2
    exit 2
    ;;
esac
