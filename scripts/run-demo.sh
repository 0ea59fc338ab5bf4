#!/usr/bin/env bash
# `make run`: show the plugins this build hosts, then run `dtq serve` (API +
# engine) in the foreground until Ctrl-C; it prints one URL that just works:
# the UI with an admin key in its fragment.
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

# --- graphql: the GraphQL gateway faces the browser: /graphql and the UI on
# one origin, REST passed through (scripts/build-gateway.sh; docs/graphql.md)
gateway_args=()
if [[ -d $here/gateway/node_modules ]]; then
  gateway_args=(--graphql on --gateway "$here/gateway/src/main.mjs")
else
  echo "No GraphQL gateway packages (scripts/build-gateway.sh installs them): serving REST only."
fi
# --- end graphql ---------------------------------------------------------------

# --- ui: serve the web UI (scripts/build-ui.sh builds ui/dist; docs/ui.md) ---
ui_args=()
if [[ -f $here/ui/dist/index.html ]]; then
  ui_args=(--ui-dir "$here/ui/dist")
else
  echo "No built web UI in ui/dist (scripts/build-ui.sh builds it): serving the API only."
fi
# The data folder as dtq resolves it, named explicitly so that the key made
# here is the one serve reads.
data_dir=${DTQ_DATA_DIR:-${XDG_DATA_HOME:-${HOME:-.}/.local/share}/dtq}
# The data folder keeps only keys' hashes, so each run makes a fresh admin
# key named "make run" and revokes the previous run's (--replace); an
# operator key in $DTQ_API_TOKEN is used as it is.
key=${DTQ_API_TOKEN:-$("$dtq" --data-dir "$data_dir" keys create --name "make run" --scope admin --replace 2>/dev/null)}
# Reads serve's first stdout line (LISTENING URL) and prints the address to
# open, with the key in its fragment: the UI keeps it and drops it from the
# address bar; a fragment never reaches the server. Passes the rest through,
# and outlives Ctrl-C so serve can still write while it drains.
announce() {
  trap '' INT
  local word url
  if read -r word url && [[ $word == LISTENING ]]; then
    # With the gateway, its address (printed right after) is the browser's.
    if ((${#gateway_args[@]})) && read -r -t 5 word graphql_url; then
      if [[ $word == GRAPHQL_LISTENING ]]; then url=$graphql_url; else echo "$word $graphql_url"; fi
    fi
    if ((${#ui_args[@]})); then
      echo
      echo "  Web UI: $url/#key=$key"
      echo
    fi
  fi
  cat
}
# --- end ui --------------------------------------------------------------------

echo
echo "Starting dtq serve (Ctrl-C stops it). In another terminal:"
echo "  DTQ_API_KEY=$key $dtq submit weather '{\"city\":\"Austin\",\"country_code\":\"US\",\"units\":\"metric\"}' --watch"
echo
# Not exec: the EXIT trap must still stop the fake provider.
"$dtq" --data-dir "$data_dir" serve --listen "${DTQ_LISTEN:-127.0.0.1:8080}" "${ui_args[@]}" "${gateway_args[@]}" | announce
