#!/usr/bin/env bash
# tests/openapi/'s checks, each run with the Python of tools.sh (installed
# once into the cache):
#
#   run.sh conformance DTQ PLUGIN_DIR DOCUMENT LOGS
#       every status code the document lists, answered by a real `dtq serve`
#       and validated (conformance.py)
#   run.sh schemathesis serve DTQ PLUGIN_DIR LOGS
#   run.sh schemathesis api DTQ PLUGIN_DIR LOGS STATE
#       Schemathesis against a real `dtq serve`, or a real `dtq api` with a
#       worker per plugin on the distributed servers in STATE
#       (run_schemathesis.py): its examples, coverage, fuzzing and stateful
#       phases with the checks not_a_server_error, response-schema,
#       status-code and content-type conformance, SCHEMATHESIS_MAX_EXAMPLES
#       (default 100) per operation; the SSE routes never end by design, so
#       they are left out of the runs.
#   run.sh validate DOCUMENT RECORDS...
#       recorded responses validated (validate.py)
#   run.sh reference DTQ PLUGIN_DIR DOCUMENT LOGS
#       the reference page (api/reference/) served by `dtq serve --ui-dir`
#       and rendered by headless Chromium (reference_test.py)
#   run.sh functional API_TEST DOCUMENT LOGS
#       the functional tests (tests/functional/api_test.cpp) run with every
#       response they receive recorded, then validated against the document
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$("$here/tools.sh" python)
command=${1:?conformance, schemathesis or validate}
shift
case $command in
  conformance) exec "$python" "$here/conformance.py" "$@" ;;
  schemathesis) exec "$python" "$here/run_schemathesis.py" "$@" ;;
  validate) exec "$python" "$here/validate.py" "$@" ;;
  reference) exec "$python" "$here/reference_test.py" "$@" ;;
  functional)
    api_test=${1:?api_test binary}
    document=${2:?document}
    logs=${3:?logs folder}
    mkdir -p "$logs"
    rm -f "$logs/responses.jsonl"
    DTQ_OPENAPI_RECORD=$logs/responses.jsonl "$api_test" --gtest_brief=1 >"$logs/api_test.log" 2>&1 || {
      tail -30 "$logs/api_test.log"
      echo "openapi: api_test failed (its own ctest cases say why); log: $logs/api_test.log" >&2
      exit 1
    }
    exec "$python" "$here/validate.py" "$document" "$logs/responses.jsonl"
    ;;
  *) echo "usage: $0 conformance|schemathesis|validate|reference|functional ..." >&2; exit 2 ;;
esac
