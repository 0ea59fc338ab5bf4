#!/usr/bin/env bash
# The web UI's tests, as ctest runs them (label `ui`; tests/CMakeLists.txt):
#
#   scripts/test-ui.sh setup   npm ci and build ui/dist, and install the GraphQL
#                              gateway's packages (a ctest fixture)
#   scripts/test-ui.sh unit    Vitest: components in jsdom
#   scripts/test-ui.sh e2e     the built UI in headless Chromium (playwright-core)
#                              against the real `dtq serve` (with the GraphQL
#                              gateway it supervises) and the fake provider
#
# e2e reads DTQ_BIN, DTQ_PLUGIN_DIR, DTQ_TEST_PLUGIN_DIR and DTQ_E2E_ARTIFACTS
# (screenshots), defaulting to build/default (or $DTQ_BUILD_DIR); DTQ_GATEWAY,
# default gateway/src/main.mjs; CHROMIUM_PATH, default
# /usr/bin/chromium. Always headless under CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/ui"

case ${1:-} in
  setup)
    "$here/scripts/build-ui.sh"
    # The browser talks to dtq only through the gateway `dtq serve` runs.
    exec "$here/scripts/build-gateway.sh"
    ;;
  unit)
    exec npx --no-install vitest run --reporter=default
    ;;
  e2e)
    chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
    if [[ ! -x $chromium ]]; then
      echo "test-ui: no Chromium at $chromium; run scripts/install-deps.sh test" >&2
      exit 1
    fi
    exec node --test --test-concurrency=1 --test-reporter=spec e2e/ui.e2e.test.mjs
    ;;
  *)
    echo "usage: $0 setup|unit|e2e" >&2
    exit 2
    ;;
esac
