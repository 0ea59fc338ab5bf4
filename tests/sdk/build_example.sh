#!/usr/bin/env bash
# Installs the SDK from the build tree into a scratch prefix, builds the
# example plugin against it as a third party would, and has dtq check and
# run the result.
set -euo pipefail
build_dir=$1 example_dir=$2 dtq=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The SDK directory's own install script: unlike the top-level one it writes
# no install_manifest into the build tree.
cmake --install "$build_dir/plugin-sdk" --prefix "$scratch/sdk" >/dev/null
cmake -S "$example_dir" -B "$scratch/build" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/sdk" >/dev/null
cmake --build "$scratch/build" >/dev/null

mkdir "$scratch/plugins"
cp "$scratch/build/hello.so" "$scratch/plugins/"

"$dtq" plugin check "$scratch/plugins/hello.so"
output=$("$dtq" --plugin-dir "$scratch/plugins" run hello '{"name":"Ada"}')
echo "$output"
if [[ $output != '{"greeting":"Hello, Ada!"}' ]]; then
  echo "unexpected output: $output" >&2
  exit 1
fi
# The folder may also follow the subcommand.
if "$dtq" run --plugin-dir "$scratch/plugins" hello '{"name":""}' 2>"$scratch/err"; then
  echo "an empty name was accepted" >&2
  exit 1
fi
grep -q '/name: a non-empty string is required' "$scratch/err"
# A library the loader refuses is named, with why, when its job is asked for.
echo "not a library" >"$scratch/plugins/broken.so"
if "$dtq" run --plugin-dir "$scratch/plugins" broken '{}' 2>"$scratch/err"; then
  echo "a job of a refused plugin ran" >&2
  exit 1
fi
grep -q 'refused: .*broken.so' "$scratch/err" || {
  cat "$scratch/err" >&2
  echo "dtq run did not say why broken.so was refused" >&2
  exit 1
}
echo "sdk example: built out of tree, accepted, ran, and validated; a refused library is named"
