#!/usr/bin/env bash
# `make run`: show the plugins this build hosts and run a weather job through
# them with a live progress bar. Without internet the recorded fake provider
# stands in for Open-Meteo, and the script says so.
set -euo pipefail
build=${1:-build/default}
dtq="$build/bin/dtq"
here=$(cd "$(dirname "$0")/.." && pwd)

"$dtq" plugins

fake_pid=""
cleanup() { [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [[ -z ${DTQ_HTTP_BASE_URL:-} ]] && ! curl -s -m 3 -o /dev/null https://api.open-meteo.com/; then
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  python3 "$here/tests/fake_provider/fake_provider.py" --port 0 >"$fifo" &
  fake_pid=$!
  read -r _ port <"$fifo"
  rm -f "$fifo"
  export DTQ_HTTP_BASE_URL="http://127.0.0.1:$port"
  echo "No internet here: plugins' HTTP goes to the recorded fake provider at $DTQ_HTTP_BASE_URL"
fi

echo
echo "\$ dtq run weather '{\"city\":\"Austin\",\"country_code\":\"US\",\"units\":\"metric\"}'"
"$dtq" run weather '{"city":"Austin","country_code":"US","units":"metric"}'
