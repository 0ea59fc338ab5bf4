#!/usr/bin/env bash
# The local Debian base image the tests build dtq's images on, since Docker
# Hub is out of reach here: `debootstrap --variant=minbase bookworm` from the
# machine's own apt mirror, packed as a tarball that `docker import` turns
# into an image. Production builds use the upstream image instead
# (infra/docker/Dockerfile's ARG BASE, default debian:bookworm-slim).
#
#   scripts/docker/base-image.sh tarball   build the tarball once, print its path
#   scripts/docker/base-image.sh import    ...and import it into the engine at
#                                          $DOCKER_HOST as $DTQ_BASE_IMAGE, unless there
#
# The tarball is built once (cache_once in ../cache.sh: concurrent callers
# wait, a killed build leaves nothing trusted) into
# $DTQ_CACHE_DIR/docker/debian-<suite>-minbase-<key>.tar, keyed by the
# suite, the mirror and this script's recipe version. Needs root (debootstrap
# makes device nodes and chowns) and Debian's debootstrap.
#
# Environment: DTQ_CACHE_DIR, DTQ_DEBIAN_MIRROR (default: the first URI of
# this machine's apt sources, else http://deb.debian.org/debian),
# DTQ_DEBIAN_SECURITY_MIRROR, DTQ_BASE_IMAGE (default dtq-base:bookworm).
set -euo pipefail
# shellcheck source=../cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cache.sh"
SERVER_NAME=base-image

suite=bookworm
# Bumped whenever what the tarball holds changes, so an old entry is never
# reused for a new recipe.
recipe=2
image=${DTQ_BASE_IMAGE:-dtq-base:$suite}

say() { echo "base-image: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# The machine's apt mirror (deb822 or one-line sources), so that the base
# comes from wherever this machine's packages come from.
sources_uri() {
  local wanted=$1
  local files=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  local file
  for file in "${files[@]}"; do
    [[ -f $file ]] || continue
    sed -n -e 's/^URIs: *\([^ ]*\).*/\1/p' -e 's/^deb  *\(\[[^]]*\] *\)\{0,1\}\([^ ]*\) .*/\2/p' "$file"
  done | grep -E "$wanted" | head -n 1
}
mirror=${DTQ_DEBIAN_MIRROR:-$(sources_uri '/debian/?$' || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${DTQ_DEBIAN_SECURITY_MIRROR:-$(sources_uri 'debian-security/?$' || true)}
security=${security:-http://deb.debian.org/debian-security}
key=$(printf '%s %s %s %s' "$suite" "$mirror" "$security" "$recipe" | sha256sum | cut -c1-12)
tarball=$DTQ_CACHE_DIR/docker/debian-$suite-minbase-$key.tar

tarball_valid() { [[ -s $1 ]] && tar -tf "$1" ./etc/debian_version >/dev/null 2>&1; }

build_tarball() {
  local out=$1 root started=$SECONDS
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
  command -v debootstrap >/dev/null || die "debootstrap not found; run scripts/install-deps.sh test"
  root=$(mktemp -d "${TMPDIR:-/tmp}/dtq-base.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the trap outlives the local
  trap "rm -rf '$root'" RETURN
  say "debootstrap --variant=minbase $suite from $mirror (once; cached in $out)"
  if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    rm -f "$root.log"
    die "debootstrap failed"
  fi
  rm -f "$root.log"
  # Security and point-release updates too, as debian:bookworm-slim has, so
  # that an image's libraries match the machine that built dtq.
  cat >"$root/etc/apt/sources.list" <<LIST
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
LIST
  # What the upstream slim images do: no recommends, no caches or lists.
  cat >"$root/etc/apt/apt.conf.d/90dtq-slim" <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CONF
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  tar --numeric-owner -C "$root" -cf "$out" .
  say "built $(du -h "$out" | cut -f1) tarball in $((SECONDS - started))s"
}

do_tarball() {
  cache_require_space "$DTQ_CACHE_DIR" 600 "the Debian base image"
  cache_once "$tarball" tarball_valid build_tarball
}

do_import() {
  do_tarball
  # The image's label records which tarball it came from: a new recipe is
  # imported again.
  local have
  have=$(docker image inspect --format '{{ index .Config.Labels "org.dtq.base" }}' "$image" 2>/dev/null || true)
  if [[ $have == "$key" ]]; then
    say "$image present"
    return 0
  fi
  docker import --change "LABEL org.dtq.base=$key" --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
  say "imported $image from $tarball"
}

case ${1:-} in
  tarball)
    do_tarball
    echo "$tarball"
    ;;
  import) do_import ;;
  *)
    echo "usage: $(basename "$0") tarball|import" >&2
    exit 2
    ;;
esac
