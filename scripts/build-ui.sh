#!/usr/bin/env bash
# Builds the web UI into ui/dist, which `dtq serve --ui-dir` serves.
#
# Installs the UI's npm packages with `npm ci` from the committed
# package-lock.json (through the npm registry only, its download cache in
# $DTQ_CACHE_DIR/npm) when node_modules is missing or older than the
# lockfile, then type-checks and bundles with Vite unless ui/dist is newer
# than every source. Safe to run again: a second run only checks. Safe to
# run twice at once: both go through cache_once (scripts/cache.sh), so the
# second waits for the first and reuses what it made, and node_modules and
# dist each appear by an atomic rename, never half-written.
#
#   scripts/build-ui.sh           as above
#   scripts/build-ui.sh --deps    only npm ci (what the tests need)
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cache.sh
source "$scripts/cache.sh"
ui=$(cd "$scripts/../ui" && pwd)
cd "$ui"

dist_valid() {
  [[ -f $1/index.html ]] &&
    [[ -z $(find src public index.html package-lock.json vite.config.ts tsconfig.json -newer "$1/index.html" -print -quit) ]]
}

bundle() {
  echo "build-ui: type-checking and bundling into ui/dist"
  npm run --silent build -- --outDir "$1"
}

cache_require_space "$ui" 600 "the UI's npm packages and bundle"
SERVER_NAME=build-ui npm_ci_cached "$ui" --node 20.19  # Vite 8 needs Node.js 20.19
[[ ${1:-} == --deps ]] && exit 0
# --- openapi: the REST API's reference page (api/reference/: Swagger UI from
# npm over /openapi.json, docs/openapi.md) joins ui/dist as /api-reference/
# once the UI's bundle is there, whether made now or already up to date.
trap 'status=$?; if ((status == 0)); then "$scripts/../api/reference/build.sh" "$ui/dist/api-reference" >&2 || status=$?; fi; exit $status' EXIT
# --- end openapi
if dist_valid dist; then
  echo "build-ui: ui/dist is up to date"
  exit 0
fi
cache_once "$ui/dist" dist_valid bundle
