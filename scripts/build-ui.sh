#!/usr/bin/env bash
# Builds the web UI into ui/dist, which `dtq serve --ui-dir` serves.
#
# Installs the UI's npm packages with `npm ci` from the committed
# package-lock.json (through the npm registry only) when node_modules is
# missing or older than the lockfile, then type-checks and bundles with Vite
# unless ui/dist is newer than every source. Safe to run again: a second run
# only checks.
#
#   scripts/build-ui.sh           as above
#   scripts/build-ui.sh --deps    only npm ci (what the tests need)
set -euo pipefail
ui=$(cd "$(dirname "$0")/../ui" && pwd)
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
stamp=node_modules/.package-lock.json # npm ci writes it last
if [[ ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
  echo "build-ui: npm ci"
  npm ci --loglevel=error
fi
[[ ${1:-} == --deps ]] && exit 0

if [[ -f dist/index.html ]] &&
  [[ -z $(find src public index.html package-lock.json vite.config.ts tsconfig.json -newer dist/index.html -print -quit) ]]; then
  echo "build-ui: ui/dist is up to date"
  exit 0
fi
echo "build-ui: type-checking and bundling into ui/dist"
npm run --silent build
