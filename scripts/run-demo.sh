#!/usr/bin/env bash
# `make run`: show the plugins this build hosts, then run `dtq serve` (API +
# engine) in the foreground until Ctrl-C; it prints the URL and the token.
# Without internet the recorded fake provider stands in for the four
# providers, and the script says so.
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
echo "Starting dtq serve (Ctrl-C stops it). In another terminal:"
echo "  $dtq submit weather '{\"city\":\"Austin\",\"country_code\":\"US\",\"units\":\"metric\"}' --watch"
echo
# Not exec: the EXIT trap must still stop the fake provider.
"$dtq" serve --listen "${DTQ_LISTEN:-127.0.0.1:8080}"
