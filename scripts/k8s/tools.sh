#!/usr/bin/env bash
# The k8s checks' tools (tests/k8s, docs/aks.md), each made once and kept
# under $DTQ_CACHE_DIR through cache_once (../cache.sh):
#
#   scripts/k8s/tools.sh kubeconform  prints the path of kubeconform, built
#                                     from the Go module proxy (pinned)
#   scripts/k8s/tools.sh crds         prints a folder of the CustomResourceDefinitions
#                                     the manifests use: KEDA's ScaledObject and
#                                     TriggerAuthentication, the Prometheus Operator's
#                                     ServiceMonitor, the Secrets Store CSI driver's
#                                     SecretProviderClass, each from its project's Go
#                                     module (pinned by version and hash)
#   scripts/k8s/tools.sh schemas      prints a folder of JSON schemas for kubeconform:
#                                     Kubernetes $kube_schema_version's (strict) from PyPI
#                                     kubernetes-validate, rewritten as kubeconform needs
#                                     them, plus the CRDs' (crd_to_schema.py)
#   scripts/k8s/tools.sh groovy-lint  prints the path of npm-groovy-lint (npm, pinned; its
#                                     CodeNarc runs on the machine's Java 17)
#   scripts/k8s/tools.sh all          all four (scripts/install-deps.sh test runs it)
#
# Why the rewrites: kubernetes-validate's schemas refer to their shared
# definitions as "/api/_definitions.json#..." and declare a draft
# ("$schema": "https://json-schema.org/draft/2020-12/schema") that
# kubeconform's validator would fetch; with each $ref made relative
# ("_definitions.json#...") and those $schema lines dropped (not the
# "$schema" property of JSONSchemaProps, an object), kubeconform resolves
# everything from the folder.
set -euo pipefail
scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../cache.sh
source "$scripts/cache.sh"
SERVER_NAME=k8s-tools

export GOMODCACHE=${GOMODCACHE:-$DTQ_CACHE_DIR/go/mod} GOCACHE=${GOCACHE:-$DTQ_CACHE_DIR/go/build}
export GOFLAGS="-modcacherw -buildvcs=false"

kubeconform_version=v0.8.0
# The Kubernetes version the manifests are checked against: the API
# server's (kube-apiserver.sh) and kubectl's minor.
kube_schema_version=1.32.0
kubernetes_validate_version=1.37.0
# module@version hash
crd_modules=(
  "github.com/kedacore/keda/v2@v2.20.2 h1:SR60v8uIcelbveS8n/1jcl8tLdBBIbHMxmdOHw8tKqA="
  "github.com/prometheus-operator/prometheus-operator@v0.85.0 h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
  "sigs.k8s.io/secrets-store-csi-driver@v1.4.7 h1:AyuwmPTW2GoPD2RjyVD3OrH1J9cdPZx+0h2qJvzbGXs="
)
# module path -> the CRD files taken from it
crd_files=(
  "github.com/kedacore/keda/v2 config/crd/bases/keda.sh_scaledobjects.yaml"
  "github.com/kedacore/keda/v2 config/crd/bases/keda.sh_triggerauthentications.yaml"
  "github.com/prometheus-operator/prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  "sigs.k8s.io/secrets-store-csi-driver config/crd/bases/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml"
)

# Keys: a change of pin or of the conversion makes a new entry.
crds_key=$(printf '%s\n' "${crd_modules[@]}" "${crd_files[@]}" | sha256sum | cut -c1-12)
schemas_key=$( (
  echo "$kube_schema_version $kubernetes_validate_version $crds_key"
  cat "$scripts/k8s/crd_to_schema.py" "$scripts/k8s/tools.sh"
) | sha256sum | cut -c1-12)
# 16.2.0: later releases need Node.js 22.
groovy_lint_version=16.2.0
groovy_lint_dir=$DTQ_CACHE_DIR/tools/npm-groovy-lint-$groovy_lint_version
kubeconform_bin=$DTQ_CACHE_DIR/tools/kubeconform-$kubeconform_version/kubeconform
crds_dir=$DTQ_CACHE_DIR/k8s/crds-$crds_key
schemas_dir=$DTQ_CACHE_DIR/k8s/schemas-v$kube_schema_version-$schemas_key

need_go() { command -v go >/dev/null || {
  cache_say "go not found; the k8s tools are built from the Go module proxy"
  exit 1
}; }

kubeconform_valid() { [[ -x $1 ]] && [[ $("$1" -v 2>/dev/null) == "$kubeconform_version" ]]; }
build_kubeconform() {
  local out=$1 bin
  bin=$(mktemp -d "${TMPDIR:-/tmp}/dtq-kubeconform.XXXXXX")
  GOBIN=$bin CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X main.version=$kubeconform_version" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$kubeconform_version" || {
    rm -rf "$bin"
    return 1
  }
  mv "$bin/kubeconform" "$out"
  rm -rf "$bin"
}

crds_valid() { [[ -f $1/.complete ]]; }
fetch_crds() {
  local out=$1 entry module version sum info dir got
  mkdir -p "$out"
  declare -A dirs=()
  for entry in "${crd_modules[@]}"; do
    read -r module sum <<<"$entry"
    info=$(cd / && GOFLAGS="$GOFLAGS -mod=mod" go mod download -json "$module") || return 1
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
    got=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$info")
    [[ $got == "$sum" ]] || {
      cache_say "module hash of $module is $got, pinned $sum"
      return 1
    }
    dirs[${module%@*}]=$dir
  done
  for entry in "${crd_files[@]}"; do
    read -r module version <<<"$entry"
    cp "${dirs[$module]}/$version" "$out/$(basename "$version")"
  done
  chmod -R u+w "$out"
  touch "$out/.complete"
}

schemas_valid() { [[ -f $1/.complete ]]; }
make_schemas() {
  local out=$1 pip
  pip=$(mktemp -d "${TMPDIR:-/tmp}/dtq-kubernetes-validate.XXXXXX")
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$pip" "kubernetes-validate==$kubernetes_validate_version" || {
    rm -rf "$pip"
    return 1
  }
  local source=$pip/kubernetes_validate/kubernetes-json-schema/v$kube_schema_version-local-strict
  [[ -f $source/_definitions.json ]] || {
    cache_say "kubernetes-validate $kubernetes_validate_version has no schemas for $kube_schema_version"
    rm -rf "$pip"
    return 1
  }
  mkdir -p "$out"
  # The two rewrites (above), file by file.
  local file
  for file in "$source"/*.json; do
    sed -e 's#"\$ref": "/api/_definitions\.json#"$ref": "_definitions.json#g' \
      -e '/^[[:space:]]*"\$schema": "[^"]*",\{0,1\}$/d' "$file" >"$out/$(basename "$file")"
  done
  rm -rf "$pip"
  local python=/usr/bin/python3
  [[ -x $python ]] || python=python3
  "$python" "$scripts/k8s/crd_to_schema.py" "$out" "$crds_dir"/*.yaml >&2
  touch "$out/.complete"
}

groovy_lint_valid() { [[ -x $1/node_modules/.bin/npm-groovy-lint ]]; }
install_groovy_lint() {
  mkdir -p "$1"
  (cd "$1" && npm_config_cache=${npm_config_cache:-$DTQ_CACHE_DIR/npm} \
    npm install --no-audit --no-fund --loglevel=error --prefix . "npm-groovy-lint@$groovy_lint_version" >/dev/null)
}

do_kubeconform() {
  if ! kubeconform_valid "$kubeconform_bin"; then
    need_go
    cache_once "$kubeconform_bin" kubeconform_valid build_kubeconform
  fi
  echo "$kubeconform_bin"
}
do_crds() {
  if ! crds_valid "$crds_dir"; then
    need_go
    cache_once "$crds_dir" crds_valid fetch_crds
  fi
  echo "$crds_dir"
}
do_schemas() {
  do_crds >/dev/null
  cache_once "$schemas_dir" schemas_valid make_schemas
  echo "$schemas_dir"
}

do_groovy_lint() {
  command -v npm >/dev/null || {
    cache_say "npm not found; run scripts/install-deps.sh"
    exit 1
  }
  cache_once "$groovy_lint_dir" groovy_lint_valid install_groovy_lint
  echo "$groovy_lint_dir/node_modules/.bin/npm-groovy-lint"
}

case ${1:-} in
  kubeconform) do_kubeconform ;;
  groovy-lint) do_groovy_lint ;;
  crds) do_crds ;;
  schemas) do_schemas ;;
  all)
    do_kubeconform >/dev/null
    do_schemas >/dev/null
    do_groovy_lint >/dev/null
    cache_say "kubeconform $kubeconform_version, the CRDs, the Kubernetes $kube_schema_version schemas and npm-groovy-lint $groovy_lint_version present"
    ;;
  *)
    echo "usage: $(basename "$0") kubeconform|crds|schemas|groovy-lint|all" >&2
    exit 2
    ;;
esac
