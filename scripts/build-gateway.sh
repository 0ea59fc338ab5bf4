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

cache_require_space "$gateway" 200 "the GraphQL gateway's npm packages"
SERVER_NAME=build-gateway npm_ci_cached "$gateway" --node 20.19 --omit=dev
