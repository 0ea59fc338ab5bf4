#!/usr/bin/env bash
# The REST API's reference page (Swagger UI from npm's swagger-ui-dist over
# GET /openapi.json, docs/openapi.md) into DEST, by default ui/dist/api-reference:
# `dtq serve --ui-dir ui/dist` then serves it at /api-reference/.
# scripts/build-ui.sh runs it after the UI's own bundle.
#
# The package is installed once per lockfile into the cache (scripts/cache.sh:
# concurrent callers install once), with install scripts off (swagger-ui-dist
# pulls in @scarf/scarf, whose install script reports the install to its
# vendor). DEST appears by an atomic rename.
#
#   api/reference/build.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/cache.sh
source "$here/../../scripts/cache.sh"
dest=${1:-$here/../../ui/dist/api-reference}

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export npm_config_cache=${npm_config_cache:-$DTQ_CACHE_DIR/npm} SCARF_ANALYTICS=false
lock_hash=$(sha256sum "$here/package-lock.json" | cut -c1-16)
modules=$DTQ_CACHE_DIR/api-reference-$lock_hash

modules_valid() { [[ -f $1/node_modules/swagger-ui-dist/swagger-ui-bundle.js ]]; }
install_modules() {
  mkdir -p "$1"
  cp "$here/package.json" "$here/package-lock.json" "$1/"
  (cd "$1" && npm ci --ignore-scripts --loglevel=error)
}
SERVER_NAME=api-reference cache_once "$modules" modules_valid install_modules

dist=$modules/node_modules/swagger-ui-dist
tmp=$dest.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$dist/swagger-ui-bundle.js" "$dist/swagger-ui.css" "$dist/LICENSE" "$here/index.html" \
  "$here/reference.js" "$tmp/"
rm -rf "$dest"
# A second build at once may have put its copy there first: the same files.
mv -fT "$tmp" "$dest" 2>/dev/null || { [[ -f $dest/index.html ]] && rm -rf "$tmp"; }
echo "api-reference: $dest"
