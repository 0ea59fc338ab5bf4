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
#
#   npm_ci_cached DIR [--into DEST] [--node MIN] [NPM_CI_ARGS...]
#     DEST (default DIR/node_modules) made by `npm ci NPM_CI_ARGS` from DIR's
#     package.json, package-lock.json and .npmrc (if any), in a work folder
#     of its own, through cache_once; again only once the lockfile or the
#     manifest is newer than the install's stamp (.package-lock.json, which
#     npm ci writes). Through the npm registry only, its download cache in
#     $DTQ_CACHE_DIR/npm unless npm_config_cache names another; the npm
#     settings are exported, so the caller's later npm commands use them too.
#     Fails, saying what to do, without node and npm, or with a Node.js
#     older than MIN (e.g. 20.19).

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

npm_ci_cached() {
  local npm_ci_dir=$1 npm_ci_dest=$1/node_modules node_min=
  shift
  while (($# > 0)); do
    case $1 in
      --into) npm_ci_dest=$2 && shift 2 ;;
      --node) node_min=$2 && shift 2 ;;
      *) break ;;
    esac
  done
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    cache_say "error: node and npm are needed; run scripts/install-deps.sh"
    return 1
  fi
  if [[ -n $node_min ]] && ! node -e '
      const want = process.argv[1].split(".").map(Number), have = process.versions.node.split(".").map(Number);
      process.exit(have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]) ? 0 : 1)' "$node_min"; then
    cache_say "error: Node.js $(node --version) is too old; $npm_ci_dir needs $node_min or newer"
    return 1
  fi
  export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
  export npm_config_cache=${npm_config_cache:-$DTQ_CACHE_DIR/npm}
  # npm_ci_dir is seen by both through bash's dynamic scope.
  npm_ci_valid() {
    local stamp=$1/.package-lock.json
    [[ -f $stamp && ! $npm_ci_dir/package-lock.json -nt $stamp && ! $npm_ci_dir/package.json -nt $stamp ]]
  }
  npm_ci_build() {
    local out=$1 work=$1.work
    shift
    rm -rf "$work"
    mkdir -p "$work"
    cp "$npm_ci_dir/package.json" "$npm_ci_dir/package-lock.json" "$work/"
    [[ ! -f $npm_ci_dir/.npmrc ]] || cp "$npm_ci_dir/.npmrc" "$work/"
    cache_say "npm ci of $npm_ci_dir"
    (cd "$work" && npm ci --loglevel=error "$@" >&2) || {
      rm -rf "$work"
      return 1
    }
    mv "$work/node_modules" "$out"
    rm -rf "$work"
  }
  cache_once "$npm_ci_dest" npm_ci_valid npm_ci_build "$@"
}
