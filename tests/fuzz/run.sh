#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz/ (docs/openapi.md, "Fuzzing"):
#
#   tests/fuzz/run.sh build DIR             configure and build them with clang-14 in DIR
#   tests/fuzz/run.sh run DIR TARGET RUNS   TARGET for RUNS inputs from its seed corpus
#                                           and every regression case (make test)
#   tests/fuzz/run.sh long DIR SECONDS [TARGET...]
#                                           each TARGET (default all) for SECONDS, its
#                                           corpus growing in DIR/corpus/TARGET; a crash
#                                           is copied into tests/fuzz/regressions/TARGET/
#                                           (make fuzz FUZZ_SECONDS=...)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
targets=(job_codecs progress_codecs plugin_intake payload list_query backend_uri http_head)
command=${1:?build, run or long}
dir=${2:?build folder}

case $command in
  build)
    if ! command -v clang++-14 >/dev/null; then
      echo "fuzz: no clang++-14; run scripts/install-deps.sh test" >&2
      exit 1
    fi
    if ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
      echo "fuzz: no libFuzzer runtime; apt-get install libclang-rt-14-dev (scripts/install-deps.sh test)" >&2
      exit 1
    fi
    launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    cmake -S "$here" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" >/dev/null
    cmake --build "$dir" -j "${DTQ_FUZZ_JOBS:-2}"
    ;;
  run)
    target=${3:?target}
    runs=${4:?runs}
    inputs=("$here/corpus/$target")
    [[ -d $here/regressions/$target ]] && inputs+=("$here/regressions/$target")
    # The committed corpus is only read: new inputs go to a scratch folder.
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    for input in "${inputs[@]}"; do
      # Each regression case on its own first: a crash found once never returns.
      if [[ $input == */regressions/* ]]; then
        "$dir/${target}_fuzz" -runs=0 "$input"/* 2>&1 | tail -3
      fi
    done
    mkdir -p "$dir/artifacts/$target"
    "$dir/${target}_fuzz" -runs="$runs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" "$scratch" "${inputs[@]}" 2>&1 | tail -25
    ;;
  long)
    seconds=${3:?seconds}
    shift 3
    (($# > 0)) && targets=("$@")
    status=0
    for target in "${targets[@]}"; do
      corpus=$dir/corpus/$target
      artifacts=$dir/artifacts/$target
      mkdir -p "$corpus" "$artifacts"
      echo "fuzz: $target for $seconds s"
      if ! "$dir/${target}_fuzz" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$corpus" "$here/corpus/$target" 2>&1 | tail -25; then
        status=1
      fi
      for crash in "$artifacts"/*; do
        [[ -e $crash ]] || continue
        mkdir -p "$here/regressions/$target"
        cp "$crash" "$here/regressions/$target/"
        echo "fuzz: $target found $(basename "$crash"): kept as tests/fuzz/regressions/$target/$(basename "$crash")" >&2
        status=1
      done
    done
    exit "$status"
    ;;
  *)
    echo "usage: $0 build|run|long DIR ..." >&2
    exit 2
    ;;
esac
