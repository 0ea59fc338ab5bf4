#!/usr/bin/env bash
# Fails early, and says why, when the disk is too full for what `make build`
# or `make test` is about to write, instead of failing deep inside a build.
# The figures are what a run on an empty machine takes (docs/operators.md,
# "Disk"), with a margin:
#
#   build  3 GiB where the build folder is: the build (build/<preset>)
#          and ccache
#   test   6 GiB there: the above, ui/node_modules and the test servers'
#          data; and 2 GiB where $DTQ_CACHE_DIR is (the same disk, as a
#          rule), for the Go, FerretDB, Kafka and npm caches
#
#   scripts/check-space.sh build|test [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cache.sh
source "$here/cache.sh"
profile=${1:-build}
build_dir=${2:-$here/../build}

case $profile in
  build) cache_require_space "$build_dir" 3072 "building dtq" ;;
  test)
    cache_require_space "$build_dir" 6144 "building and testing dtq"
    cache_require_space "$DTQ_CACHE_DIR" 2048 "the test servers' and the UI's caches"
    ;;
  *)
    echo "usage: $0 build|test [BUILD_DIR]" >&2
    exit 2
    ;;
esac
