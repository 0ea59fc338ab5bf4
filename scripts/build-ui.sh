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

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "build-ui: node and npm are needed; run scripts/install-deps.sh" >&2
  exit 1
fi
# Vite 8 needs Node.js 20.19 or newer (Debian 12's own nodejs is 18).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "build-ui: Node.js $(node --version) is too old; the UI needs 20.19 or newer" >&2
  exit 1
fi

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export npm_config_cache=${npm_config_cache:-$DTQ_CACHE_DIR/npm}

# npm ci writes node_modules/.package-lock.json; it is stale once the
# lockfile or the manifest is newer.
modules_valid() {
  local stamp=$1/.package-lock.json
  [[ -f $stamp && ! package-lock.json -nt $stamp && ! package.json -nt $stamp ]]
}

# npm ci into a folder of its own beside ui/, then only its node_modules
# becomes the entry.
install_modules() {
  local out=$1 work=$1.work
  mkdir -p "$work"
  cp package.json package-lock.json "$work/"
  echo "build-ui: npm ci"
  (cd "$work" && npm ci --loglevel=error)
  mv "$work/node_modules" "$out"
  rm -rf "$work"
}

dist_valid() {
  [[ -f $1/index.html ]] &&
    [[ -z $(find src public index.html package-lock.json vite.config.ts tsconfig.json -newer "$1/index.html" -print -quit) ]]
}

bundle() {
  echo "build-ui: type-checking and bundling into ui/dist"
  npm run --silent build -- --outDir "$1"
}

cache_require_space "$ui" 600 "the UI's npm packages and bundle"
cache_once "$ui/node_modules" modules_valid install_modules
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
