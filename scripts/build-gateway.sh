#!/usr/bin/env bash
# Installs the GraphQL gateway's npm packages (gateway/node_modules) with
# `npm ci` from the committed package-lock.json, through the npm registry
# only, its download cache in $DTQ_CACHE_DIR/npm; only when node_modules is
# missing or older than the lockfile. The gateway needs no build step: Node
# runs gateway/src/main.mjs as it is. Safe to run twice at once (cache_once,
# scripts/cache.sh): node_modules appears by an atomic rename.
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cache.sh
source "$scripts/cache.sh"
gateway=$(cd "$scripts/../gateway" && pwd)
cd "$gateway"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "build-gateway: node and npm are needed; run scripts/install-deps.sh" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "build-gateway: Node.js $(node --version) is too old; the gateway needs 20.19 or newer" >&2
  exit 1
fi

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export npm_config_cache=${npm_config_cache:-$DTQ_CACHE_DIR/npm}

modules_valid() {
  local stamp=$1/.package-lock.json
  [[ -f $stamp && ! package-lock.json -nt $stamp && ! package.json -nt $stamp ]]
}

install_modules() {
  local out=$1 work=$1.work
  rm -rf "$work"
  mkdir -p "$work"
  cp package.json package-lock.json .npmrc "$work/"
  echo "build-gateway: npm ci"
  (cd "$work" && npm ci --omit=dev --loglevel=error)
  mv "$work/node_modules" "$out"
  rm -rf "$work"
}

cache_require_space "$gateway" 200 "the GraphQL gateway's npm packages"
cache_once "$gateway/node_modules" modules_valid install_modules
