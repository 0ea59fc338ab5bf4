# shellcheck shell=bash
# Common library of the test-server scripts (scripts/servers/*.sh). Sourced,
# never run. Each server lives in its own folder under $DTQ_SERVERS_DIR
# (default: $TMPDIR/dtq-servers-<uid>): its data, its log and its pid file.
# Servers listen on loopback only, on ports of their own (never the server's
# default port), overridable by environment variables (see each script). The
# defaults (21xxx) lie below the kernel's ephemeral range (32768 on), so that
# no client socket can be holding one when a server starts.
#
# What a server script gets from here:
#   server_init NAME [REGEX]  sets SERVER_NAME, SERVER_DIR, SERVER_LOG, SERVER_PIDFILE;
#                             REGEX matches the live server's command line and environment
#   server_running            true while the pid file names a live process of ours
#   server_launch CMD...      starts CMD detached, output to the log, pid recorded
#   server_wait_ready SECS CHECK...  polls CHECK until it succeeds; fails loudly
#   server_stop SECS          TERM, wait, KILL after SECS; idempotent
#   port_open PORT            true when something accepts on 127.0.0.1:PORT
#   fetch_verified URL DEST SHA256   download once into the cache, verified
#   (and, from ../cache.sh, cache_once and cache_require_space)
#
# Every message goes to stderr prefixed with the server's name; the start
# command prints one line `NAME ready on HOST:PORT in Ns (log: FILE)`.

set -euo pipefail
# shellcheck source=../cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cache.sh"

DTQ_SERVERS_DIR=${DTQ_SERVERS_DIR:-${TMPDIR:-/tmp}/dtq-servers-$(id -u)}
DTQ_SERVERS_HOST=127.0.0.1

say() { echo "${SERVER_NAME:-servers}: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

now_seconds() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now_seconds)" 'BEGIN { printf "%.2f", b - a }'; }

# The extended regular expression that a live server's command line (then
# its environment, NUL bytes read as spaces) matches, for the pid file to be
# believed: a reused pid is never signalled.
SERVER_MATCH=""

server_init() {
  SERVER_NAME=$1
  SERVER_MATCH=${2:-$1}
  SERVER_DIR=$DTQ_SERVERS_DIR/$SERVER_NAME
  SERVER_LOG=$SERVER_DIR/$SERVER_NAME.log
  SERVER_PIDFILE=$SERVER_DIR/$SERVER_NAME.pid
  mkdir -p "$SERVER_DIR"
}

# True while PID is a live process; a zombie waiting to be reaped is dead.
process_alive() {
  local state
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

server_pid() {
  [[ -s $SERVER_PIDFILE ]] || return 1
  local pid
  pid=$(<"$SERVER_PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # A zombie or a pid reused by something else is not our server.
  process_alive "$pid" || return 1
  # Read whole first: `grep -q` in a pipeline would kill the writer early,
  # and pipefail would turn a match into a failure.
  local text
  text=$(cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' ' ') || return 1
  [[ $text =~ $SERVER_MATCH ]] || return 1
  echo "$pid"
}

server_running() { server_pid >/dev/null; }

port_open() {
  (exec 3<>"/dev/tcp/$DTQ_SERVERS_HOST/$1") 2>/dev/null
}

# Refuses to start on a port someone else holds: a test must never talk to
# a stranger's server by mistake.
require_free_port() {
  local port=$1 variable=$2
  if port_open "$port"; then
    die "port $port on $DTQ_SERVERS_HOST is already in use by another process; choose another with $variable=PORT"
  fi
}

# server_launch CMD...: runs CMD in its own session, stdin from /dev/null and
# stdout/stderr appended to the log (a caller capturing our output, such as
# ctest, is never held open by the server).
server_launch() {
  : >"$SERVER_LOG"
  setsid "$@" </dev/null >>"$SERVER_LOG" 2>&1 &
  echo $! >"$SERVER_PIDFILE"
}

# server_wait_ready SECS CHECK...: polls CHECK every 0.1 s. Fails, naming the
# log file, when the process exits or SECS pass; on a timeout the process is
# stopped so that no half-started server is left behind.
server_wait_ready() {
  local limit=$1
  shift
  local deadline
  deadline=$(awk -v now="$(now_seconds)" -v limit="$limit" 'BEGIN { printf "%.3f", now + limit }')
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! server_running; then
      say "exited while starting; last lines of $SERVER_LOG:"
      tail -n 20 "$SERVER_LOG" >&2 || true
      rm -f "$SERVER_PIDFILE"
      die "$SERVER_NAME did not start (log: $SERVER_LOG)"
    fi
    if awk -v now="$(now_seconds)" -v deadline="$deadline" 'BEGIN { exit !(now > deadline) }'; then
      say "not ready after ${limit}s; last lines of $SERVER_LOG:"
      tail -n 20 "$SERVER_LOG" >&2 || true
      server_stop 10 >/dev/null 2>&1 || true
      die "$SERVER_NAME not ready within ${limit}s (log: $SERVER_LOG)"
    fi
    sleep 0.1
  done
}

# server_stop SECS: SIGTERM to the server, then SIGKILL to its whole process
# group (the session server_launch made: the server and its helpers) after
# SECS. Stopping a server that is not running succeeds.
server_stop() {
  local limit=${1:-30} pid
  if ! pid=$(server_pid); then
    rm -f "$SERVER_PIDFILE"
    say "not running"
    return 0
  fi
  local started
  started=$(now_seconds)
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while process_alive "$pid"; do
    if ((waited >= limit * 10)); then
      say "still running ${limit}s after SIGTERM; sending SIGKILL to process group $pid"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  # The process may be our child (same shell): reap it quietly.
  wait "$pid" 2>/dev/null || true
  rm -f "$SERVER_PIDFILE"
  say "stopped (pid $pid) in $(elapsed_since "$started")s"
}

# Prints `running pid N on HOST:PORT` or `stopped`; exit status 0 only when
# the server is running and answers CHECK.
server_status() {
  local port=$1
  shift
  local pid
  if pid=$(server_pid); then
    if "$@" >/dev/null 2>&1; then
      echo "$SERVER_NAME: running (pid $pid) on $DTQ_SERVERS_HOST:$port, dir $SERVER_DIR"
      return 0
    fi
    echo "$SERVER_NAME: process $pid alive but not answering on $DTQ_SERVERS_HOST:$port (log: $SERVER_LOG)"
    return 1
  fi
  echo "$SERVER_NAME: stopped"
  return 3
}

# fetch_verified URL DEST SHA256: DEST is kept once its SHA-256 matches the
# pin. Otherwise it is downloaded once (cache_once: concurrent callers wait
# and reuse it), checked against the repository's own URL.sha1 file and
# against the pin, and only then renamed into place.
fetch_verified() {
  local url=$1 dest=$2 sha256=$3
  FETCH_URL=$url FETCH_SHA256=$sha256 cache_once "$dest" fetched_file_valid download_verified
}

fetched_file_valid() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$FETCH_SHA256" ]]; }

download_verified() {
  local tmp=$1 url=$FETCH_URL
  say "downloading $url"
  curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 300 -o "$tmp" "$url" ||
    die "cannot download $url"
  local published actual
  published=$(curl -fsSL --retry 3 --connect-timeout 20 --max-time 60 "$url.sha1" | awk '{ print $1 }') ||
    die "cannot download $url.sha1"
  actual=$(sha1sum "$tmp" | cut -d' ' -f1)
  [[ $actual == "$published" ]] || die "SHA-1 mismatch for $url: published $published, downloaded $actual"
  actual=$(sha256sum "$tmp" | cut -d' ' -f1)
  [[ $actual == "$FETCH_SHA256" ]] || die "SHA-256 mismatch for $url: pinned $FETCH_SHA256, downloaded $actual"
}

# The Python with the Debian packages (python3-pymongo) when there is one.
server_python() {
  if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

# server_main NAME: the command dispatch shared by the scripts; each script
# defines do_start, do_stop, do_status and optionally do_env / do_clean.
server_main() {
  local command=${1:-}
  shift || true
  case $command in
    start) do_start "$@" ;;
    stop) do_stop "$@" ;;
    restart)
      do_stop "$@"
      do_start "$@"
      ;;
    status) do_status "$@" ;;
    env) do_env "$@" ;;
    clean)
      do_stop
      rm -rf "$SERVER_DIR"
      say "removed $SERVER_DIR"
      ;;
    *)
      echo "usage: $(basename "$0") start|stop|restart|status|env|clean" >&2
      exit 2
      ;;
  esac
}
