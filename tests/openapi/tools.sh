#!/usr/bin/env bash
# The Python tools of tests/openapi/, installed once into a virtual
# environment in the cache (scripts/cache.sh: concurrent callers install
# once; a fresh DTQ_CACHE_DIR installs again):
#   schemathesis   the schema-driven API fuzzer (it brings jsonschema and
#                  hypothesis)
#   jsonschema     validate.py's validator (with rfc3339-validator for
#                  date-time)
#
#   tests/openapi/tools.sh python   prints the environment's python
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/cache.sh
source "$here/../../scripts/cache.sh"

# Pinned: a new release may change its checks' names or its defaults.
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
venv="$DTQ_CACHE_DIR/openapi-venv-$SCHEMATHESIS_VERSION"

venv_valid() {
  [[ -x $1/bin/python ]] && "$1/bin/python" -c "import schemathesis, jsonschema, yaml" 2>/dev/null
}
install_venv() {
  cache_require_space "$(dirname "$1")" 300 "the schemathesis environment"
  python3 -m venv "$1"
  PIP_ROOT_USER_ACTION=ignore "$1/bin/python" -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" pyyaml "jsonschema==4.26.0" rfc3339-validator
  # The venv's scripts name their folder: moved onto DEST by cache_once,
  # they are called through `python -m` only (see below).
}

SERVER_NAME=openapi cache_once "$venv" venv_valid install_venv
case ${1:-python} in
  python) echo "$venv/bin/python" ;;
  *) echo "usage: $0 python" >&2; exit 2 ;;
esac
