# shellcheck shell=bash
# The one way dtq's scripts build or download something once into a cache
# (FerretDB, the Kafka jars, the UI's npm packages, and any later image or
# binary). Sourced, never run.
#
# Every cache the scripts keep lies under $DTQ_CACHE_DIR (default
# ~/.cache/dtq): the artefacts, and the Go module and build caches and the
# npm download cache they are made with. ccache is not one of them: it keeps
# its own folder (~/.cache/ccache). A cold run is therefore
# `DTQ_CACHE_DIR=$(mktemp -d) make test`.
#
# Why a lock: ctest starts fixtures in parallel, and two of them may want
# the same entry of an empty cache at once. Without one, both built into the
# same temporary file and the second `mv` failed (issue 10).
#
#   cache_once DEST VALID BUILD [ARGS...]
#     DEST         the entry's final path (a file or a folder)
#     VALID PATH   succeeds when PATH holds a good entry
#     BUILD TMP ARGS...  writes the entry to TMP, a path of its own beside DEST
#
#   If DEST is valid, nothing happens. Otherwise the caller takes an
#   exclusive flock on DEST.lock; a second caller waits there, then finds the
#   entry valid and reuses it: the thing is built once. The entry appears
#   only by an atomic rename of a checked TMP onto DEST, so a run killed
#   halfway leaves at most a DEST.tmp.* that nothing trusts, and the next
#   holder of the lock removes it.
#
#   cache_require_space DIR MIB WHAT
#     fails at once, naming WHAT and the shortfall, when the file system of
#     DIR has less than MIB MiB free.

DTQ_CACHE_DIR=${DTQ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dtq}

cache_say() { echo "${SERVER_NAME:-cache}: $*" >&2; }

cache_once() {
  local dest=$1 valid=$2 build=$3
  shift 3
  "$valid" "$dest" && return 0
  mkdir -p "$(dirname "$dest")"
  local lock_fd
  exec {lock_fd}>>"$dest.lock"
  if ! flock -n "$lock_fd"; then
    cache_say "waiting for another process to finish $dest"
    flock "$lock_fd"
  fi
  if "$valid" "$dest"; then
    exec {lock_fd}>&-
    return 0
  fi
  # Ours alone now: whatever temporary entry is here was left by a run that
  # died halfway.
  rm -rf "$dest".tmp.*
  local tmp=$dest.tmp.$$ status=0
  # The builder's children must not inherit the lock: one left running
  # would hold it after we are gone.
  "$build" "$tmp" "$@" {lock_fd}>&- || status=$?
  if ((status == 0)) && ! "$valid" "$tmp"; then
    cache_say "error: building $dest produced an entry that does not pass its check"
    status=1
  fi
  if ((status == 0)); then
    rm -rf "$dest"
    mv -fT "$tmp" "$dest"
  fi
  rm -rf "$tmp"
  exec {lock_fd}>&-
  return "$status"
}

cache_require_space() {
  local dir=$1 need=$2 what=$3
  mkdir -p "$dir"
  local free
  free=$(($(df -Pk "$dir" | awk 'NR == 2 { print $4 }') / 1024))
  if ((free < need)); then
    cache_say "error: $what needs about $need MiB free in $dir; its file system has $free MiB." \
      "Free some space, or point DTQ_CACHE_DIR (and the build folder) at a larger disk."
    return 1
  fi
}
