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

# --- ui: serve the web UI (scripts/build-ui.sh builds ui/dist; docs/ui.md) ---
ui_args=()
if [[ -f $here/ui/dist/index.html ]]; then
  ui_args=(--ui-dir "$here/ui/dist")
else
  echo "No built web UI in ui/dist (scripts/build-ui.sh builds it): serving the API only."
fi
# The data folder as dtq resolves it, named explicitly so that this script
# finds the token serve keeps there.
data_dir=${DTQ_DATA_DIR:-${XDG_DATA_HOME:-${HOME:-.}/.local/share}/dtq}
# Reads serve's first stdout line (LISTENING URL) and prints the address to
# open, with the token in its fragment: the UI keeps it and drops it from the
# address bar; a fragment never reaches the server. Passes the rest through,
# and outlives Ctrl-C so serve can still write while it drains.
announce() {
  trap '' INT
  local word url token
  if read -r word url && [[ $word == LISTENING ]]; then
    token=${DTQ_API_TOKEN:-$(cat "$data_dir/token" 2>/dev/null || true)}
    if ((${#ui_args[@]})); then
      echo
      echo "  Web UI: $url/${token:+#token=$token}"
      echo
    fi
  fi
  cat
}
# --- end ui --------------------------------------------------------------------

echo
echo "Starting dtq serve (Ctrl-C stops it). In another terminal:"
echo "  $dtq submit weather '{\"city\":\"Austin\",\"country_code\":\"US\",\"units\":\"metric\"}' --watch"
echo
# Not exec: the EXIT trap must still stop the fake provider.
"$dtq" --data-dir "$data_dir" serve --listen "${DTQ_LISTEN:-127.0.0.1:8080}" "${ui_args[@]}" | announce
