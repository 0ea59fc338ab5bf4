#!/usr/bin/env bash
# The k8s checks (label k8s in make test; docs/aks.md, "What is checked
# offline"). Each is one ctest test:
#
#   k8s_checks.sh tools           make the tools once (scripts/k8s/tools.sh all, and
#                                 scripts/k8s/kube-apiserver.sh build: kube-apiserver
#                                 and kubectl)
#   k8s_checks.sh render OUT      kustomize (the built kubectl's) renders every overlay
#                                 and every pool into OUT
#   k8s_checks.sh schemas OUT     kubeconform -strict on OUT/*.yaml against Kubernetes'
#                                 schemas and the CRDs' (scripts/k8s/tools.sh)
#   k8s_checks.sh pools OUT       pool_invariants.py on the overlays
#   k8s_checks.sh apiserver OUT   a real kube-apiserver (scripts/k8s/kube-apiserver.sh,
#                                 on etcd): the CRDs, then every overlay with
#                                 `kubectl apply --dry-run=server`, then applied for real;
#                                 then the deploy role's apply step twice (Ansible), the
#                                 second run changing nothing
#   k8s_checks.sh ansible         ansible-playbook --syntax-check and ansible-lint --strict
#   k8s_checks.sh jenkins         npm-groovy-lint on the Jenkinsfile, and its stage order
#   k8s_checks.sh local-run OUT BUILD
#                                 every rendered dtq container (the API and each pool:
#                                 image, args, environment, user, read-only root, as
#                                 rendered; secrets replaced by test values) run in the
#                                 compose stack's private Docker engine on the test
#                                 servers' stand-ins (tests/infra/compose_e2e.sh, with an
#                                 override made by compose_from_manifests.py): each pool
#                                 completes a job of its type
#   k8s_checks.sh monitoring OUT  the monitoring role's Helm values rendered by Ansible:
#                                 promtool on the rules they carry, the dashboards
#                                 identical to infra/grafana's, no scrape configuration
#                                 of their own (ServiceMonitors scrape) and no
#                                 kubernetes_sd_configs anywhere
#
# OUT is a folder of the build (render writes it; the others read it).
# kubectl is always the one scripts/k8s/kube-apiserver.sh builds beside the
# API server (same release), never one the machine happens to have.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
check=${1:?usage: k8s_checks.sh render|schemas|pools|apiserver|ansible|jenkins|monitoring [OUT]}
out=${2:-}

# The Debian Python, with Debian's PyYAML (python3-yaml), when there is one.
python=/usr/bin/python3
[[ -x $python ]] || python=python3

say() { echo "k8s_$check: $*" >&2; }
die() {
  say "FAIL: $*"
  exit 1
}
need() { command -v "$1" >/dev/null || die "$1 not found; run scripts/install-deps.sh test"; }
# Sets kubectl to the project's kubectl (built once by the tools check), and
# puts its folder first on PATH for what runs kubectl by name (the deploy
# role's `kubectl kustomize`, under Ansible).
use_kubectl() {
  kubectl=$("$root/scripts/k8s/kube-apiserver.sh" kubectl) || die "no kubectl: scripts/k8s/kube-apiserver.sh build failed"
  PATH=$(dirname "$kubectl"):$PATH
  export PATH
}

overlays() { (cd "$root/k8s/overlays" && ls -d -- */ | tr -d /); }
pools() { (cd "$root/k8s/pools" && ls -d -- */ | tr -d /); }
# Sets files to the rendered overlays (in this shell: a missing one stops the check).
rendered_overlays() {
  local overlay
  files=()
  for overlay in $(overlays); do
    [[ -s $out/overlay-$overlay.yaml ]] || die "$out/overlay-$overlay.yaml missing: run the render check first"
    files+=("$out/overlay-$overlay.yaml")
  done
}

do_render() {
  use_kubectl
  mkdir -p "$out"
  rm -f "$out"/overlay-*.yaml "$out"/pool-*.yaml
  local overlay pool count
  for overlay in $(overlays); do
    "$kubectl" kustomize "$root/k8s/overlays/$overlay" >"$out/overlay-$overlay.yaml" ||
      die "kustomize cannot render k8s/overlays/$overlay"
    count=$(grep -c '^kind:' "$out/overlay-$overlay.yaml")
    say "k8s/overlays/$overlay: $count objects"
  done
  for pool in $(pools); do
    "$kubectl" kustomize "$root/k8s/pools/$pool" >"$out/pool-$pool.yaml" ||
      die "kustomize cannot render k8s/pools/$pool"
  done
  say "$(pools | wc -l) pools rendered alone too"
}

do_schemas() {
  local kubeconform schemas
  kubeconform=$("$root/scripts/k8s/tools.sh" kubeconform)
  schemas=$("$root/scripts/k8s/tools.sh" schemas)
  local files
  rendered_overlays
  files+=("$out"/pool-*.yaml)
  # No other location: a kind without a schema fails (nothing is skipped).
  "$kubeconform" -strict -summary -output text \
    -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "${files[@]}" ||
    die "kubeconform found invalid objects"
}

do_pools() {
  local files
  rendered_overlays
  "$python" "$here/pool_invariants.py" "$root" "${files[@]}" || die "pool invariants broken"
}

do_apiserver() {
  use_kubectl
  local files crds
  rendered_overlays
  crds=$("$root/scripts/k8s/tools.sh" crds)
  local servers api=$root/scripts/k8s/kube-apiserver.sh
  servers=$(mktemp -d "${TMPDIR:-/tmp}/dtq-k8s-apiserver.XXXXXX")
  export DTQ_SERVERS_DIR=$servers
  # Always stopped, whatever happens below (the values fixed now: the
  # trap runs after this function has returned).
  # shellcheck disable=SC2064
  trap "DTQ_SERVERS_DIR='$servers' '$api' stop >&2 || true; rm -rf '$servers'" EXIT
  "$api" start >&2 || die "kube-apiserver did not start"
  export KUBECONFIG=$servers/kube-apiserver/kubeconfig
  "$kubectl" version -o json >/dev/null || die "kubectl cannot parse the server's version"
  say "server $("$kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
  "$kubectl" apply --server-side -f "$crds" >&2 || die "the CRDs were refused"
  "$kubectl" wait --for condition=established --timeout=60s crd --all >&2 || die "the CRDs never became established"
  local file warnings
  for file in "${files[@]}"; do
    # The overlay's namespaces exist, with their labels (Pod Security's
    # levels among them), before anything is put in them: a dry run of the
    # whole file would find them missing.
    "$python" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Namespace"]
yaml.safe_dump_all(docs, sys.stdout)' "$file" | "$kubectl" apply -f - >/dev/null
    warnings=$out/apiserver-$(basename "$file" .yaml).warnings
    "$kubectl" apply --dry-run=server -f "$file" >/dev/null 2>"$warnings" || {
      cat "$warnings" >&2
      die "the API server refused $(basename "$file") (dry run)"
    }
    # A warning is a finding too: an unknown field in a built-in kind, a
    # deprecated API, a pod spec the namespace's Pod Security level would
    # refuse.
    if [[ -s $warnings ]]; then
      cat "$warnings" >&2
      die "the API server warned about $(basename "$file")"
    fi
    "$kubectl" apply -f "$file" >/dev/null 2>"$warnings" || {
      cat "$warnings" >&2
      die "the API server refused $(basename "$file")"
    }
    say "$(basename "$file"): $(grep -c '^kind:' "$file") objects accepted (dry run, then for real)"
    # Removed before the next overlay, so that it is created afresh, not
    # patched over this one. Without a controller manager nothing collects
    # a terminating namespace: its finalizer is cleared by hand.
    "$kubectl" delete -f "$file" --wait=false >/dev/null
    "$kubectl" get namespace dtq -o json | python3 -c '
import json, sys
ns = json.load(sys.stdin)
ns["spec"]["finalizers"] = []
print(json.dumps(ns))' | "$kubectl" replace --raw /api/v1/namespaces/dtq/finalize -f - >/dev/null
    for _ in $(seq 100); do "$kubectl" get namespace dtq >/dev/null 2>&1 || break; sleep 0.1; done
    local left
    left=$("$kubectl" get all,networkpolicies,ingresses,scaledobjects,poddisruptionbudgets -n dtq -o name 2>/dev/null)
    [[ -z $left ]] || die "objects of $(basename "$file") left behind: $left"
  done
  # Idempotence of the deploy role's apply step (ansible/roles/deploy/tasks/apply.yml).
  local run recap
  for run in 1 2; do
    recap=$(ANSIBLE_ROLES_PATH=$root/ansible/roles ansible-playbook -i "$root/ansible/inventory/localhost.yml" \
      "$here/apply_twice.yml" -e "dtq_kubeconfig=$KUBECONFIG" \
      -e "dtq_overlay=$root/k8s/overlays/selfcontained" 2>&1) || {
      echo "$recap" >&2
      die "the deploy role's apply step failed (run $run)"
    }
    recap=$(grep -E '^localhost +:' <<<"$recap")
    say "deploy role, apply run $run: $recap"
  done
  [[ $recap =~ changed=0 ]] || die "the deploy role's second apply changed something: $recap"
}

do_ansible() {
  need ansible-playbook
  need ansible-lint
  cd "$root/ansible"
  local playbook
  for playbook in playbooks/*.yml; do
    ansible-playbook --syntax-check -i inventory/localhost.yml "$playbook" >/dev/null ||
      die "ansible-playbook --syntax-check failed on ansible/$playbook"
  done
  say "syntax-check: $(ls playbooks/*.yml | wc -l) playbooks"
  # --strict: a warning fails too, among them args[module] (an argument
  # the installed azure.azcollection does not have). A task whose
  # arguments the linter could not check at all is a failure as well.
  local report
  report=$(ansible-lint --strict --offline --nocolor playbooks/*.yml roles 2>&1) || {
    echo "$report" >&2
    die "ansible-lint --strict found problems"
  }
  if grep -q "Ignored exception" <<<"$report"; then
    echo "$report" >&2
    die "ansible-lint could not check some module's arguments"
  fi
  say "ansible-lint --strict: clean"
}

do_jenkins() {
  "$python" "$here/jenkinsfile_stages.py" "$root/Jenkinsfile" || die "Jenkinsfile stages"
  local lint
  lint=$("$root/scripts/k8s/tools.sh" groovy-lint)
  (cd "$root" && "$lint" --failon error --noserver --output txt Jenkinsfile) >&2 ||
    die "npm-groovy-lint found errors in the Jenkinsfile"
}

do_monitoring() {
  need ansible-playbook
  need promtool
  mkdir -p "$out/monitoring"
  ansible-playbook -i "$root/ansible/inventory/localhost.yml" "$here/render_monitoring_values.yml" \
    -e "dtq_render_dir=$out/monitoring" >/dev/null || die "the monitoring role's values do not render"
  "$python" - "$out/monitoring/kube-prometheus-stack-values.yml" "$root" "$out/monitoring" <<'PY' || die "values"
import json, os, sys, yaml
values_path, root, out = sys.argv[1:]
values = yaml.safe_load(open(values_path))
rules = values["additionalPrometheusRulesMap"]
source = yaml.safe_load(open(os.path.join(root, "infra/prometheus/rules/dtq-alerts.yml")))
assert rules["dtq-alerts"]["groups"] == source["groups"], "the values' rules differ from infra/prometheus/rules"
with open(os.path.join(out, "rules.yml"), "w") as f:
    yaml.safe_dump({"groups": rules["dtq-alerts"]["groups"]}, f)
dashboards = values["grafana"]["dashboards"]["dtq"]
for name in os.listdir(os.path.join(root, "infra/grafana/dashboards")):
    want = json.load(open(os.path.join(root, "infra/grafana/dashboards", name)))
    got = json.loads(dashboards[name[:-5]]["json"])
    assert got == want, f"dashboard {name} differs from infra/grafana/dashboards"
print(f"{len(dashboards)} dashboards and {len(rules['dtq-alerts']['groups'])} rule groups carried as they are")
# Scraping on Kubernetes is the Prometheus Operator's ServiceMonitors
# (k8s/base/service-monitors.yaml): the values carry no scrape
# configuration of their own. One with kubernetes_sd_configs would need a
# promtool with Kubernetes discovery (Debian's has none; docs/aks.md).
def scrape_configs(node, path="values"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("additionalScrapeConfigs", "scrape_configs", "kubernetes_sd_configs"):
                yield f"{path}.{key}"
            yield from scrape_configs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from scrape_configs(value, f"{path}[{i}]")
found = list(scrape_configs(values))
assert not found, f"the values carry scrape configuration ({', '.join(found)}): check it with promtool check config"
PY
  # Nor does any file the deployment ships (the compose stack's static
  # prometheus.yml is infra_rules' promtool check config).
  if grep -rln "kubernetes_sd_configs" "$root/k8s" "$root/ansible" "$root/infra" >&2; then
    die "a Prometheus configuration with kubernetes_sd_configs: it needs promtool check config with Kubernetes discovery"
  fi
  promtool check rules "$out/monitoring/rules.yml" >&2 || die "promtool refused the rules the values carry"
}

do_tools() {
  "$root/scripts/k8s/tools.sh" all
  # The build's own Go parallelism (-p 2) keeps it to two cores.
  "$root/scripts/k8s/kube-apiserver.sh" build
}

do_local_run() {
  local build=${3:?usage: k8s_checks.sh local-run OUT BUILD}
  local overlay=$out/overlay-selfcontained.yaml
  [[ -s $overlay ]] || die "$overlay missing: run the render check first"
  "$python" "$here/compose_from_manifests.py" "$overlay" >"$out/compose-from-manifests.yml" ||
    die "the rendered containers do not map onto the compose stack"
  # The merged stack really runs the rendered containers: each service's
  # command is the rendered args (docker-compose config needs the test
  # override's build contexts to exist: empty ones do).
  local contexts
  contexts=$(mktemp -d)
  grep -o 'DTQ_STAGE_DIR:-[^}]*}/[a-z_]*' "$root/infra/compose/docker-compose.test.yml" |
    sed 's#.*}/##' | sort -u | while read -r context; do mkdir -p "$contexts/$context"; done
  DTQ_STAGE_DIR=$contexts DTQ_IMAGE=dtq:e2e DTQ_HELLO_WORKER_IMAGE=dtq-worker-hello:e2e DTQ_API_TOKEN=t \
    DTQ_CLUSTER_SECRET=s docker-compose -f "$root/infra/compose/docker-compose.yml" \
    -f "$root/infra/compose/docker-compose.test.yml" -f "$out/compose-from-manifests.yml" config \
    >"$out/compose-merged.yml" || die "docker-compose refuses the override"
  rm -rf "$contexts"
  "$python" - "$out/compose-from-manifests.yml" "$out/compose-merged.yml" <<'PY' || die "the override does not take"
import sys, yaml
override = yaml.safe_load(open(sys.argv[1]))["services"]
merged = yaml.safe_load(open(sys.argv[2]))["services"]
for name, service in override.items():
    got = merged[name]
    assert got["command"] == service["command"], f"{name}: command {got['command']}, rendered {service['command']}"
    for key, value in service["environment"].items():
        want = value.replace("${DTQ_CLUSTER_SECRET}", "s").replace("${DTQ_API_TOKEN}", "t")
        assert str(got["environment"].get(key)) == want, f"{name}: {key} is {got['environment'].get(key)!r}"
    assert got["read_only"] and got["user"] == service["user"] and got["cap_drop"] == ["ALL"], name
print(f"compose-merged: {len(override)} services run the rendered containers")
PY
  # Ports of its own beside compose_e2e's (23080, 23090).
  DTQ_E2E_API_PORT=${DTQ_K8S_LOCAL_API_PORT:-23180} \
    DTQ_E2E_PROMETHEUS_PORT=${DTQ_K8S_LOCAL_PROMETHEUS_PORT:-23190} \
    DTQ_E2E_COMPOSE_OVERRIDES=$out/compose-from-manifests.yml \
    "$root/tests/infra/compose_e2e.sh" "$build" || die "the rendered containers did not run every job type"
}

case $check in
  tools) do_tools ;;
  local-run) do_local_run "$@" ;;
  render) do_render ;;
  schemas) do_schemas ;;
  pools) do_pools ;;
  apiserver) do_apiserver ;;
  ansible) do_ansible ;;
  jenkins) do_jenkins ;;
  monitoring) do_monitoring ;;
  *) die "unknown check $check" ;;
esac
