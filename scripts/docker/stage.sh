#!/usr/bin/env bash
# Stages the build contexts of the test stack's images (docker-compose.test.yml)
# from what this machine already built or cached, one folder each:
#   dtq/            infra/docker/Dockerfile + opt/dtq/{bin,plugins,ui}: the
#                   binaries of BUILD_DIR (stripped), the shipped plugins, ui/dist
#   hello/          plugin.Dockerfile + plugins/hello.so: the SDK example,
#                   built out of tree against the SDK installed from BUILD_DIR
#   kafka/          the stand-in's Dockerfile, entry point and libs/: the
#                   pinned jars (scripts/servers/kafka.sh fetch; cached)
#   ferretdb/       the stand-in's Dockerfile and the FerretDB binary
#                   (scripts/servers/ferretdb.sh build; cached)
#   fake_provider/  the stand-in's Dockerfile and tests/fake_provider
#   redis/ rabbitmq/ prometheus/   their Dockerfiles (Debian's packages)
#
#   scripts/docker/stage.sh BUILD_DIR STAGE_DIR
#
# Files are hard-linked where they can be, so that a context's content (and
# so Docker's layer cache) only changes when the file did.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "$1" && pwd)
stage=$2
# shellcheck source=../cache.sh
source "$repo/scripts/cache.sh"
say() { echo "stage: $*" >&2; }

put() { # put SRC... DEST_DIR
  local dest=${*: -1}
  mkdir -p "$dest"
  cp -l "${@:1:$#-1}" "$dest/" 2>/dev/null || cp "${@:1:$#-1}" "$dest/"
}

rm -rf "$stage"
mkdir -p "$stage"
standins=$repo/infra/compose/standins

# dtq: stripped copies (the build tree's have debug info: 100+ MB).
for file in "$build/bin/dtq" "$build/bin/dtq-plugin-runner" "$build/bin/dtq-backend-mongo.so"; do
  [[ -x $file ]] || {
    say "error: $file missing; build dtq (it builds the runner and the MongoDB module) first"
    exit 1
  }
done
mkdir -p "$stage/dtq/opt/dtq/bin" "$stage/dtq/opt/dtq/plugins"
put "$repo/infra/docker/Dockerfile" "$stage/dtq"
strip --strip-unneeded -o "$stage/dtq/opt/dtq/bin/dtq" "$build/bin/dtq"
strip --strip-unneeded -o "$stage/dtq/opt/dtq/bin/dtq-plugin-runner" "$build/bin/dtq-plugin-runner"
strip --strip-unneeded -o "$stage/dtq/opt/dtq/bin/dtq-backend-mongo.so" "$build/bin/dtq-backend-mongo.so"
for plugin in weather quote exchange_rate github_user; do
  strip --strip-unneeded -o "$stage/dtq/opt/dtq/plugins/$plugin.so" "$build/plugins/$plugin.so"
done
if [[ -f $repo/ui/dist/index.html ]]; then
  cp -rl "$repo/ui/dist" "$stage/dtq/opt/dtq/ui" 2>/dev/null || cp -r "$repo/ui/dist" "$stage/dtq/opt/dtq/ui"
else
  say "ui/dist not built: the image serves no UI (scripts/build-ui.sh builds it)"
  mkdir -p "$stage/dtq/opt/dtq/ui"
fi

# hello: the SDK example as a third party builds it.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --component sdk --prefix "$scratch/sdk" >/dev/null
cmake -S "$repo/plugin-sdk/examples/hello" -B "$scratch/hello" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$scratch/sdk" >/dev/null
cmake --build "$scratch/hello" >/dev/null
mkdir -p "$stage/hello/plugins"
put "$repo/infra/docker/plugin.Dockerfile" "$stage/hello"
strip --strip-unneeded -o "$stage/hello/plugins/hello.so" "$scratch/hello/hello.so"

# kafka: the pinned jars, fetched once into the cache.
"$repo/scripts/servers/kafka.sh" fetch >/dev/null
mkdir -p "$stage/kafka/libs"
put "$standins/kafka.Dockerfile" "$standins/kafka-entrypoint.sh" "$stage/kafka"
while read -r coordinate _; do
  [[ -z $coordinate || $coordinate == \#* ]] && continue
  IFS=: read -r group artifact version <<<"$coordinate"
  put "$DTQ_CACHE_DIR/maven/${group//.//}/$artifact/$version/$artifact-$version.jar" "$stage/kafka/libs"
done <"$repo/scripts/servers/kafka-4.3.1.jars"

# ferretdb: the binary ferretdb.sh builds once into the cache.
"$repo/scripts/servers/ferretdb.sh" build
binaries=("$DTQ_CACHE_DIR"/ferretdb/*/ferretdb)
put "$standins/ferretdb.Dockerfile" "${binaries[-1]}" "$stage/ferretdb"

put "$standins/fake-provider.Dockerfile" "$repo/tests/fake_provider/fake_provider.py" \
  "$repo/tests/fake_provider/recordings.json" "$stage/fake_provider"
for server in redis rabbitmq prometheus; do put "$standins/$server.Dockerfile" "$stage/$server"; done
say "staged in $stage ($(du -sh "$stage" | cut -f1))"
