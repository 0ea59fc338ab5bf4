#!/usr/bin/env bash
# A real Kubernetes API server for the k8s tests (tests/k8s): kube-apiserver
# built from the Go module proxy's k8s.io/kubernetes, over Debian's etcd
# (etcd-server), both on loopback ports of their own:
#   etcd     http://127.0.0.1:$DTQ_ETCD_PORT (default 21479; its peer port is the next one)
#   API      https://127.0.0.1:$DTQ_KUBE_API_PORT (default 21443)
# in $DTQ_SERVERS_DIR/kube-apiserver, with a kubeconfig there (`env` prints
# KUBECONFIG=...). A static token authenticates the test as system:masters;
# no controller manager or scheduler runs: the server stores and validates
# objects, which is what `kubectl apply` (dry-run or not) needs.
#
#   scripts/k8s/kube-apiserver.sh build|start|stop|status|env|clean
#   scripts/k8s/kube-apiserver.sh kubectl   builds if needed, prints kubectl's path
#
# kube-apiserver and kubectl (k8s.io/kubernetes/cmd/kubectl, the same
# release) are built together, by one `go build` over one module graph, and
# cached as one entry: the folder
# $DTQ_CACHE_DIR/kubernetes/<version>-<module hash>/ holding both binaries
# (cache_once in ../cache.sh; valid only when both run and report the
# pinned version), with the Go caches under $DTQ_CACHE_DIR/go. The k8s
# tests and scripts use this kubectl, never the machine's.
# Why a wrapper module: k8s.io/kubernetes requires its staging modules
# (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces them with
# ./staging/src/...; those replacements do not apply to a module used as a
# dependency, so `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.32.4`
# fails. The wrapper requires k8s.io/kubernetes and replaces each staging
# module with its v0.32.x release, the same code published on its own.
# The version ldflags are set as the release build sets them, so that
# `kubectl version` parses the server's version.
#
# Environment: DTQ_ETCD_PORT, DTQ_KUBE_API_PORT, DTQ_SERVERS_DIR, DTQ_CACHE_DIR,
# DTQ_SERVER_START_TIMEOUT (seconds, default 60).
# shellcheck source-path=SCRIPTDIR source=../servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../servers/lib.sh"

kube_version=v1.32.4
kube_staging_version=v0.32.4
kube_sum="h1:fRZeSjwVE+dMMSS7Qi6LxOOKpVL+1CPAT/b1Cuo4kns="
etcd_port=${DTQ_ETCD_PORT:-21479}
etcd_peer_port=$((etcd_port + 1))
api_port=${DTQ_KUBE_API_PORT:-21443}

kube_key=$(printf '%s' "$kube_sum" | sha256sum | cut -c1-12)
# The entry is named "kubernetes" since it holds kubectl too: an older
# cache's kube-apiserver-only entry (.../kube-apiserver/...) is not reused.
kube_dir=$DTQ_CACHE_DIR/kubernetes/$kube_version-$kube_key
binary=$kube_dir/kube-apiserver
kubectl=$kube_dir/kubectl
# The Go module cache (about 1 GiB of k8s.io and its dependencies), the
# build cache and the binary.
kube_build_mib=4000
# Messages before a server is chosen (the build) name the script.
SERVER_NAME=kube-apiserver
export GOMODCACHE=${GOMODCACHE:-$DTQ_CACHE_DIR/go/mod} GOCACHE=${GOCACHE:-$DTQ_CACHE_DIR/go/build}
export GOFLAGS="-modcacherw -buildvcs=false"

# kube_valid DIR: both binaries there, each running and of the pinned version.
kube_valid() {
  [[ -x $1/kube-apiserver && -x $1/kubectl ]] || return 1
  local version
  version=$("$1/kube-apiserver" --version 2>/dev/null) || return 1
  [[ $version == "Kubernetes $kube_version" ]] || return 1
  version=$("$1/kubectl" version --client 2>/dev/null) || return 1
  [[ $version == *"Client Version: $kube_version"* ]]
}

do_build() {
  kube_valid "$kube_dir" && return 0
  command -v go >/dev/null || die "go not found; kube-apiserver and kubectl are built with the Go toolchain"
  cache_require_space "$DTQ_CACHE_DIR" "$kube_build_mib" "building kube-apiserver and kubectl"
  cache_once "$kube_dir" kube_valid build_kube_apiserver
}

# build_kube_apiserver OUT: compiles the pinned kube-apiserver and kubectl
# into the new folder OUT.
build_kube_apiserver() {
  local out=$1 started
  started=$(now_seconds)
  say "building kube-apiserver and kubectl $kube_version from the Go module proxy (once: 5 to 25 min on 2 cores, depending on their load; cached in $kube_dir)"
  local info gomod sum
  info=$(cd / && GOFLAGS="$GOFLAGS -mod=mod" go mod download -json "k8s.io/kubernetes@$kube_version") ||
    die "cannot download k8s.io/kubernetes@$kube_version"
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$info")
  [[ $sum == "$kube_sum" ]] || die "module hash of k8s.io/kubernetes@$kube_version is $sum, pinned $kube_sum"
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/dtq-kube-apiserver-build.XXXXXX")
  {
    echo "module dtq.invalid/kube-apiserver-build"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $kube_version"
    echo
    # Every `k8s.io/X => ./staging/src/k8s.io/X` of k8s.io/kubernetes's go.mod.
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*$#replace \1 => \1 '"$kube_staging_version"'#p' "$gomod"
  } >"$work/go.mod"
  grep -q '^replace k8s.io/api ' "$work/go.mod" || die "no staging replacements found in $gomod"
  local pkg ldflags major minor
  major=$(cut -d. -f1 <<<"${kube_version#v}")
  minor=$(cut -d. -f2 <<<"${kube_version#v}")
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  # One go build of both commands: the shared packages compile once, and
  # -o with a folder writes each binary there under its command's name.
  mkdir -p "$out"
  if ! (cd "$work" && GOFLAGS="$GOFLAGS -mod=mod" go get "k8s.io/kubernetes/cmd/kube-apiserver@$kube_version" \
    "k8s.io/kubernetes/cmd/kubectl@$kube_version" &&
    CGO_ENABLED=0 go build -p "${DTQ_GO_BUILD_JOBS:-2}" -trimpath -ldflags "$ldflags" -o "$out/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl); then
    say "go.mod of the failed build: $work/go.mod"
    die "kube-apiserver and kubectl build failed"
  fi
  rm -rf "$work"
  say "built kube-apiserver and kubectl in $(elapsed_since "$started")s"
}

# lib.sh knows one server at a time: these switch between the two.
as_etcd() { server_init etcd "etcd .*--listen-client-urls=http://127\.0\.0\.1:$etcd_port( |\$)"; }
as_api() { server_init kube-apiserver "kube-apiserver .*--secure-port=$api_port( |\$)"; }

etcd_ping() { curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"'; }
api_ping() {
  curl -fsSk --max-time 2 -H "Authorization: Bearer $(cat "$SERVER_DIR/token")" \
    "https://127.0.0.1:$api_port/readyz" | grep -qx ok
}

start_etcd() {
  as_etcd
  if server_running && etcd_ping; then return 0; fi
  command -v etcd >/dev/null || die "etcd not found; run scripts/install-deps.sh test (Debian's etcd-server)"
  rm -f "$SERVER_PIDFILE"
  require_free_port "$etcd_port" DTQ_ETCD_PORT
  require_free_port "$etcd_peer_port" DTQ_ETCD_PORT
  rm -rf "$SERVER_DIR/data"
  server_launch etcd --name dtq-test --data-dir "$SERVER_DIR/data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "dtq-test=http://127.0.0.1:$etcd_peer_port" --log-level warn
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-60}" etcd_ping
}

do_start() {
  local started
  started=$(now_seconds)
  do_build
  start_etcd
  as_api
  if server_running && api_ping; then
    say "already running on https://$DTQ_SERVERS_HOST:$api_port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  require_free_port "$api_port" DTQ_KUBE_API_PORT
  local dir=$SERVER_DIR
  mkdir -p "$dir/certs"
  # The test's identity (system:masters: every right), and the service
  # account signing key the server insists on; both made fresh each start.
  [[ -s $dir/token ]] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$dir/token"
  echo "$(cat "$dir/token"),dtq-test,dtq-test,system:masters" >"$dir/tokens.csv"
  [[ -s $dir/sa.key ]] || openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  server_launch "$binary" --secure-port="$api_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --etcd-servers="http://127.0.0.1:$etcd_port" --cert-dir="$dir/certs" \
    --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 --allow-privileged=false --v=0
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-60}" api_ping
  write_kubeconfig
  echo "kube-apiserver ready on https://$DTQ_SERVERS_HOST:$api_port in $(elapsed_since "$started")s (log: $SERVER_LOG)"
}

write_kubeconfig() {
  cat >"$SERVER_DIR/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: dtq-test
    cluster: {server: "https://127.0.0.1:$api_port", insecure-skip-tls-verify: true}
users:
  - name: dtq-test
    user: {token: "$(cat "$SERVER_DIR/token")"}
contexts:
  - name: dtq-test
    context: {cluster: dtq-test, user: dtq-test}
current-context: dtq-test
KUBECONFIG
}

do_stop() {
  as_api
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"
  as_etcd
  server_stop "${DTQ_SERVER_STOP_TIMEOUT:-20}"
}
do_status() {
  as_etcd
  server_status "$etcd_port" etcd_ping || return $?
  as_api
  server_status "$api_port" api_ping
}
do_env() {
  as_api
  echo "KUBECONFIG=$SERVER_DIR/kubeconfig"
}

case ${1:-} in
  build) do_build ;;
  kubectl)
    do_build >&2
    echo "$kubectl"
    ;;
  clean)
    do_stop
    rm -rf "$DTQ_SERVERS_DIR/kube-apiserver" "$DTQ_SERVERS_DIR/etcd"
    say "removed $DTQ_SERVERS_DIR/kube-apiserver and $DTQ_SERVERS_DIR/etcd"
    ;;
  *) server_main "$@" ;;
esac
