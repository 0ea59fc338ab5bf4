#!/usr/bin/env bash
# The build-once cache (scripts/cache.sh) under concurrency and crashes,
# first on a cheap artefact, then on the real entries the test servers need:
#
#   tests/cache/cache_lock_test.sh lock       two builders at once, one build; a killed build leaves nothing trusted
#   tests/cache/cache_lock_test.sh ferretdb   two `ferretdb.sh build` into an empty cache
#   tests/cache/cache_lock_test.sh kafka      two `kafka.sh fetch` into an empty cache
#
# Each case works in an empty DTQ_CACHE_DIR of its own. The FerretDB case
# keeps the Go module and build caches of the run (GOMODCACHE, GOCACHE, by
# default under the outer DTQ_CACHE_DIR), which the go command itself keeps
# safe for concurrent use: the entry under test is the binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
case_name=${1:?lock, ferretdb or kafka}

outer_cache=${DTQ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dtq}
work=$(mktemp -d "${TMPDIR:-/tmp}/dtq-cache-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
export DTQ_CACHE_DIR=$work/cache

failures=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAILED: $what" >&2
    failures=$((failures + 1))
  fi
}
count_lines() { cat "$@" 2>/dev/null | grep -c . || true; }
no_temporaries() { [[ -z $(find "$DTQ_CACHE_DIR" -name '*.tmp.*' -print -quit) ]]; }

lock_case() {
  # A builder that takes a second, counts its runs and writes in two steps,
  # so that a reader of a half-written entry would see "half".
  cat >"$work/builder.sh" <<'SH'
source "$1"
entry=$DTQ_CACHE_DIR/thing/entry
valid() { [[ -f $1 && $(<"$1") == whole ]]; }
build() {
  echo run >>"$DTQ_CACHE_DIR/../runs"
  echo half >"$1"
  [[ -n ${HANG:-} ]] && { touch "$DTQ_CACHE_DIR/../started"; sleep 60; }
  sleep 1
  echo whole >"$1"
}
cache_once "$entry" valid build
valid "$entry"
SH
  local builder=(bash "$work/builder.sh" "$root/scripts/cache.sh")
  "${builder[@]}" 2>"$work/a.log" &
  local first=$!
  "${builder[@]}" 2>"$work/b.log" &
  local second=$!
  check "first concurrent builder exits 0" wait "$first"
  check "second concurrent builder exits 0" wait "$second"
  check "the entry was built once" test "$(count_lines "$work/runs")" -eq 1
  check "the entry is whole" test "$(<"$DTQ_CACHE_DIR/thing/entry")" == whole
  check "one caller waited for the other" grep -q "waiting for another process" "$work/a.log" "$work/b.log"
  check "no temporary entry is left" no_temporaries

  # Killed halfway: the temporary entry stays behind, the entry does not
  # appear, and the next run builds it and clears the debris.
  rm -rf "${DTQ_CACHE_DIR:?}" "$work/runs"
  HANG=1 setsid "${builder[@]}" 2>/dev/null &
  local hung=$!
  local tries=0
  until [[ -f $work/started ]]; do
    ((tries++ < 100)) || break
    sleep 0.1
  done
  kill -KILL -- "-$hung" 2>/dev/null || kill -KILL "$hung"
  wait "$hung" 2>/dev/null || true
  check "a killed build leaves no entry" test ! -e "$DTQ_CACHE_DIR/thing/entry"
  check "a killed build leaves its temporary entry (to be cleared)" test -n "$(find "$DTQ_CACHE_DIR" -name '*.tmp.*' -print -quit)"
  check "the next run builds the entry" "${builder[@]}"
  check "the next run cleared the killed run's temporary entry" no_temporaries
}

ferretdb_case() {
  export GOMODCACHE=${GOMODCACHE:-$outer_cache/go/mod} GOCACHE=${GOCACHE:-$outer_cache/go/build}
  local script=$root/scripts/servers/ferretdb.sh
  "$script" build 2>"$work/a.log" &
  local first=$!
  "$script" build 2>"$work/b.log" &
  local second=$!
  check "first concurrent build exits 0" wait "$first"
  check "second concurrent build exits 0" wait "$second"
  cat "$work/a.log" "$work/b.log" | grep -v '^go: downloading' || true
  check "FerretDB was built once" test "$(cat "$work/a.log" "$work/b.log" | grep -c 'building FerretDB')" -eq 1
  local binaries
  mapfile -t binaries < <(find "$DTQ_CACHE_DIR/ferretdb" -type f -name ferretdb)
  check "one binary in the cache" test "${#binaries[@]}" -eq 1
  check "the binary runs" "${binaries[0]}" --version
  check "no temporary entry is left" no_temporaries
}

kafka_case() {
  local script=$root/scripts/servers/kafka.sh jars
  jars=$(grep -vc '^[[:space:]]*\(#\|$\)' "$root"/scripts/servers/kafka-*.jars)
  "$script" fetch 2>"$work/a.log" &
  local first=$!
  "$script" fetch 2>"$work/b.log" &
  local second=$!
  check "first concurrent fetch exits 0" wait "$first"
  check "second concurrent fetch exits 0" wait "$second"
  check "each of the $jars jars was downloaded once" \
    test "$(cat "$work/a.log" "$work/b.log" | grep -c 'downloading ')" -eq "$jars"
  check "$jars jars in the cache" test "$(find "$DTQ_CACHE_DIR/maven" -name '*.jar' | wc -l)" -eq "$jars"
  "$script" fetch 2>"$work/c.log"
  check "a third fetch downloads nothing" test "$(grep -c 'downloading ' "$work/c.log" || true)" -eq 0
  check "no temporary entry is left" no_temporaries
}

case $case_name in
  lock) lock_case ;;
  ferretdb) ferretdb_case ;;
  kafka) kafka_case ;;
  *)
    echo "usage: $0 lock|ferretdb|kafka" >&2
    exit 2
    ;;
esac
if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
