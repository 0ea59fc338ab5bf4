#!/usr/bin/env bash
# The infra's static checks (label `infra`), one per command:
#
#   tests/infra/static_checks.sh hadolint     every Dockerfile under infra/
#   tests/infra/static_checks.sh compose      `docker-compose config -q` on the
#                                             stack, and on it with the test override
#   tests/infra/static_checks.sh rules        promtool check rules + test rules (alerts)
#   tests/infra/static_checks.sh panels       every dashboard panel's expression
#                                             through `promtool check rules`
#   tests/infra/static_checks.sh dashboards   each dashboard JSON type-checked by tsc
#                                             against @grafana/schema's Dashboard
#
# Tools: Debian's docker-compose and prometheus (promtool); hadolint, tsc and
# @grafana/schema from scripts/docker/tools.sh.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
infra=$repo/infra
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need() { command -v "$1" >/dev/null || {
  echo "$1 not found; run scripts/install-deps.sh test" >&2
  exit 1
}; }

case ${1:-} in
  hadolint)
    hadolint=$("$repo/scripts/docker/tools.sh" hadolint)
    mapfile -t files < <(find "$infra" -name '*Dockerfile' | sort)
    ((${#files[@]} >= 3)) || { echo "only ${#files[@]} Dockerfiles found" >&2; exit 1; }
    "$hadolint" --config "$infra/docker/.hadolint.yaml" "${files[@]}"
    echo "hadolint: ${#files[@]} Dockerfiles clean"
    ;;
  compose)
    need docker-compose
    # The test override's build contexts are staged by the end-to-end test;
    # empty ones will do for reading the files.
    for context in dtq hello kafka ferretdb fake_provider redis rabbitmq prometheus gateway; do
      mkdir -p "$work/stage/$context"
    done
    export DTQ_API_TOKEN=static-check DTQ_CLUSTER_SECRET=static-check DTQ_STAGE_DIR=$work/stage
    main=$infra/compose/docker-compose.yml
    docker-compose -f "$main" config -q
    docker-compose -f "$main" -f "$infra/compose/docker-compose.test.yml" config -q
    # Without a token the stack must refuse to start, not run an open API.
    if DTQ_API_TOKEN='' docker-compose -f "$main" config -q 2>/dev/null; then
      echo "the stack accepted an empty DTQ_API_TOKEN" >&2
      exit 1
    fi
    echo "docker-compose config: both files valid"
    ;;
  rules)
    need promtool
    promtool check config "$infra/prometheus/prometheus.yml" >/dev/null 2>&1 ||
      # The config names its rule files by their path in the container.
      (mkdir -p "$work/etc/rules" && cp "$infra/prometheus/rules/"*.yml "$work/etc/rules/" &&
        sed "s#/etc/prometheus/rules#$work/etc/rules#" "$infra/prometheus/prometheus.yml" >"$work/prometheus.yml" &&
        promtool check config "$work/prometheus.yml")
    promtool check rules "$infra/prometheus/rules/"*.yml
    promtool test rules "$infra/prometheus/tests/"*.yml
    ;;
  panels)
    need promtool
    python3 "$repo/tests/infra/dashboard_exprs.py" --rules "$infra/grafana/dashboards/"*.json >"$work/panels.yml"
    promtool check rules "$work/panels.yml"
    ;;
  dashboards)
    tsc=$("$repo/scripts/docker/tools.sh" tsc)
    typecheck=$infra/grafana/typecheck
    # Each dashboard as an object literal typed Dashboard: tsc then checks
    # every field's type and refuses unknown ones (excess property checks).
    for dashboard in "$infra/grafana/dashboards/"*.json; do
      name=$(basename "$dashboard" .json)
      {
        echo "import type { Dashboard } from '@grafana/schema';"
        printf 'export const dashboard: Dashboard = '
        cat "$dashboard"
        echo ';'
      } >"$work/${name//-/_}.ts"
    done
    cat >"$work/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "skipLibCheck": true, "target": "ES2022",
    "module": "ESNext", "moduleResolution": "Bundler",
    "typeRoots": [], "types": [], "baseUrl": "$typecheck/node_modules",
    "paths": {"@grafana/schema": ["@grafana/schema"]}
  },
  "include": ["$work/*.ts"]
}
JSON
    (cd "$typecheck" && "$tsc" -p "$work/tsconfig.json")
    echo "tsc: $(ls "$infra/grafana/dashboards/"*.json | wc -l) dashboards type-check as @grafana/schema Dashboard"
    ;;
  *)
    echo "usage: $(basename "$0") hadolint|compose|rules|panels|dashboards" >&2
    exit 2
    ;;
esac
