#!/usr/bin/env bash
# dtq_add_plugin checks each plugin after linking (`dtq plugin check`), out
# of tree too: against the SDK installed as the docs say (which leaves
# nothing in the build tree), a plugin with a bad descriptor fails its build
# with the loader's message, whether the checker is given (DTQ_PLUGIN_CHECKER)
# or found on PATH; the good example builds through the same check.
set -euo pipefail
build_dir=$1 sdk_tests=$2 example_dir=$3 dtq=$4
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

manifests_before=$(find "$build_dir" -maxdepth 1 -name 'install_manifest*' | wc -l)
cmake --install "$build_dir/plugin-sdk" --prefix "$scratch/sdk" >/dev/null
manifests_after=$(find "$build_dir" -maxdepth 1 -name 'install_manifest*' | wc -l)
if ((manifests_after != manifests_before)); then
  echo "installing the SDK wrote an install manifest into $build_dir" >&2
  exit 1
fi

# expect_refused <name> <cmake args>...: the bad plugin's build fails, saying why.
expect_refused() {
  local name=$1
  shift
  cmake -S "$sdk_tests/bad_plugin" -B "$scratch/$name" -G Ninja \
    -DCMAKE_PREFIX_PATH="$scratch/sdk" "$@" >/dev/null
  if cmake --build "$scratch/$name" >"$scratch/$name.log" 2>&1; then
    echo "$name: a plugin the loader refuses built" >&2
    exit 1
  fi
  grep -q 'REFUSED .*job_type "Bad Type" must match' "$scratch/$name.log" || {
    cat "$scratch/$name.log" >&2
    echo "$name: the build did not fail with the loader's message" >&2
    exit 1
  }
}
expect_refused given -DDTQ_PLUGIN_CHECKER="$dtq"
mkdir "$scratch/bin"
ln -s "$dtq" "$scratch/bin/dtq"
PATH="$scratch/bin:$PATH" expect_refused on_path

# The good example passes the same check (its log says it ran).
cmake -S "$example_dir" -B "$scratch/good" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/sdk" \
  -DDTQ_PLUGIN_CHECKER="$dtq" >/dev/null
cmake --build "$scratch/good" >"$scratch/good.log" 2>&1 || {
  cat "$scratch/good.log" >&2
  exit 1
}
grep -q 'OK .*hello.so would be accepted' "$scratch/good.log" || {
  cat "$scratch/good.log" >&2
  echo "the good example was not checked" >&2
  exit 1
}
echo "dtq_add_plugin: a refused plugin fails its build with the loader's message; a good one passes"
