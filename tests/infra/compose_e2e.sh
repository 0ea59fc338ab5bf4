#!/usr/bin/env bash
# The compose stack end to end (label `compose`): a private Docker engine
# (scripts/docker/engine.sh), dtq's images built on a local Debian base from
# this build tree's binaries, infra/compose with its test override's
# stand-ins, then:
#   1. one job of each type (the four shipped plugins and the hello plugin
#      image's) submitted through the API, each seen completed;
#   2. Prometheus scraping the API and every worker, and every dashboard
#      panel's expression answering with data;
#   3. a worker container stopped, and DtqPoolNoReadyWorker seen firing;
#   4. the GraphQL gateway (profile graphql, infra/docker/gateway.Dockerfile as
#      it is, on a stand-in Node.js 20 base: this machine's node, npm and
#      CA certificates on the Debian base; npm ci reaches the registry): its probes and
#      metrics, a submitJob mutation with the key and the job completed as
#      job(id) tells, a mutation without the key refused; its image, as
#      dtq's, runs as a non-root user.
# Everything it started is stopped and removed afterwards, even on failure.
#
#   tests/infra/compose_e2e.sh BUILD_DIR
#
# Ports (loopback, outside the other test servers' 21xxx and 29xxx):
# DTQ_E2E_API_PORT (default 23080), DTQ_E2E_PROMETHEUS_PORT (23090),
# DTQ_E2E_GATEWAY_PORT (23081).
# DTQ_E2E_COMPOSE_OVERRIDES: more compose files to apply on top.
# Each step prints its time; the whole run its total.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:?usage: compose_e2e.sh BUILD_DIR}" && pwd)
# shellcheck source=../../scripts/cache.sh
source "$repo/scripts/cache.sh"

api_port=${DTQ_E2E_API_PORT:-23080}
prometheus_port=${DTQ_E2E_PROMETHEUS_PORT:-23090}
gateway_port=${DTQ_E2E_GATEWAY_PORT:-23081}
work=$(mktemp -d /tmp/dtq-e2e.XXXXXX)
export DTQ_DOCKER_DIR=$work/engine
export DOCKER_HOST=unix://$DTQ_DOCKER_DIR/docker.sock
export COMPOSE_PROJECT_NAME=dtqe2e$$
export DTQ_STAGE_DIR=$work/stage
export DTQ_API_PORT=$api_port DTQ_PROMETHEUS_PORT=$prometheus_port DTQ_GATEWAY_PORT=$gateway_port
export DTQ_IMAGE=dtq:e2e DTQ_HELLO_PLUGIN_IMAGE=dtq-plugin-hello:e2e DTQ_HELLO_WORKER_IMAGE=dtq-worker-hello:e2e
export DTQ_GATEWAY_IMAGE=dtq-gateway:e2e DTQ_NODE_BASE_IMAGE=dtq-test-node:e2e
DTQ_API_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
export DTQ_API_TOKEN
DTQ_CLUSTER_SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
export DTQ_CLUSTER_SECRET
compose=(docker-compose -f "$repo/infra/compose/docker-compose.yml" -f "$repo/infra/compose/docker-compose.test.yml")
# More override files, space-separated (a local experiment's settings).
for extra in ${DTQ_E2E_COMPOSE_OVERRIDES:-}; do compose+=(-f "$extra"); done
api=http://127.0.0.1:$api_port
gateway=http://127.0.0.1:$gateway_port
# DTQ_API_TOKEN is the API's operator key: reads need a key too.
auth=(-H "Authorization: Bearer $DTQ_API_TOKEN")
prometheus=http://127.0.0.1:$prometheus_port

started_all=$SECONDS
step_started=$SECONDS
step() {
  echo "e2e: $1 ($((SECONDS - step_started))s; ${SECONDS}s in all)" >&2
  step_started=$SECONDS
}
fail() {
  echo "e2e: FAILED: $*" >&2
  exit 1
}

cleanup() {
  local status=$?
  set +e
  if [[ -S $DTQ_DOCKER_DIR/docker.sock ]]; then
    if ((status != 0)); then
      echo "e2e: --- containers and the last lines of their logs ---" >&2
      "${compose[@]}" --profile graphql ps >&2
      "${compose[@]}" --profile graphql logs --no-color --tail=30 >&2
    fi
    "${compose[@]}" --profile build --profile graphql down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
  fi
  "$repo/scripts/docker/engine.sh" stop
  rm -rf "$work"
  echo "e2e: $( ((status == 0)) && echo passed || echo failed) in $((SECONDS - started_all))s" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECS WHAT CMD...: polls CMD every second until it succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "no $what within ${limit}s"
    sleep 1
  done
}

for port in "$api_port" "$prometheus_port" "$gateway_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is taken; choose others with DTQ_E2E_API_PORT / DTQ_E2E_PROMETHEUS_PORT / DTQ_E2E_GATEWAY_PORT"
  fi
done

"$repo/scripts/docker/engine.sh" start
step "engine started"
"$repo/scripts/docker/base-image.sh" import
step "base image"
"$repo/scripts/docker/stage.sh" "$build" "$DTQ_STAGE_DIR"
# The gateway's context: what infra/docker/gateway.Dockerfile takes from the
# repository (not the whole tree, build folders and all), and the Dockerfile
# itself, unchanged. Its Node.js 20 base: this machine's node and npm on the
# Debian base image (Debian 12's own node is 18).
mkdir -p "$DTQ_STAGE_DIR/gateway/gateway" "$DTQ_STAGE_DIR/gateway/proto/dtq" "$DTQ_STAGE_DIR/node"
cp -r "$repo/gateway/package.json" "$repo/gateway/package-lock.json" "$repo/gateway/.npmrc" \
  "$repo/gateway/schema.graphql" "$repo/gateway/src" "$DTQ_STAGE_DIR/gateway/gateway/"
cp -r "$repo/proto/dtq/v1" "$DTQ_STAGE_DIR/gateway/proto/dtq/"
cp "$repo/infra/docker/gateway.Dockerfile" "$DTQ_STAGE_DIR/gateway/"
node_bin=$(command -v node) || fail "node not found (the gateway's base takes this machine's)"
"$node_bin" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
  fail "node $("$node_bin" --version) is too old for the gateway (20 or newer)"
cp "$(readlink -f "$node_bin")" "$DTQ_STAGE_DIR/node/node"
cp -r "$(dirname "$(readlink -f "$(command -v npm)")")/.." "$DTQ_STAGE_DIR/node/npm"
# The certificates this machine trusts, for npm ci's way to the registry
# (which may pass a TLS-inspecting proxy of this network).
ca_file=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f $ca_file ]]; then cp "$ca_file" "$DTQ_STAGE_DIR/node/extra-ca.crt"; else : >"$DTQ_STAGE_DIR/node/extra-ca.crt"; fi
cat >"$DTQ_STAGE_DIR/node/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY extra-ca.crt /usr/local/share/dtq-test/extra-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/dtq-test/extra-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version
DOCKERFILE
step "contexts staged"
# dtq's and the plugin's images first: worker-hello is built from both.
"${compose[@]}" build -q api
"${compose[@]}" --profile build build -q hello-plugin
"${compose[@]}" build -q
docker build -q --build-arg "BASE=${DTQ_BASE_IMAGE:-dtq-base:bookworm}" -t "$DTQ_NODE_BASE_IMAGE" \
  "$DTQ_STAGE_DIR/node" >/dev/null
"${compose[@]}" --profile graphql build gateway >"$work/gateway-build.log" 2>&1 ||
  fail "the gateway's image: $(tail -20 "$work/gateway-build.log")"
step "images built"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sort >&2

services=(kafka rabbitmq redis mongo fake-provider api worker-weather worker-quote
  worker-exchange-rate worker-github-user worker-hello prometheus)
"${compose[@]}" up -d "${services[@]}"
step "stack up"

job_types_ready() {
  local listed
  listed=$(curl -fsS "${auth[@]}" "$api/v1/job-types") || return 1
  python3 - "$listed" <<'PY'
import json, sys
types = {t["job_type"]: t for t in json.loads(sys.argv[1])["job_types"]}
wanted = ["weather", "quote", "exchange_rate", "github_user", "hello"]
sys.exit(0 if all(types.get(w, {}).get("pools", 0) >= 1 for w in wanted) else 1)
PY
}
wait_for 240 "API with all five pools registered" job_types_ready
step "API ready, five pools registered"

# 1. One job of each type, through the API.
declare -A payloads=(
  [weather]='{"city":"Austin","country_code":"US"}'
  [quote]='{"max_length":200}'
  [exchange_rate]='{"base":"USD","target":"EUR","amount":10}'
  [github_user]='{"username":"octocat"}'
  [hello]='{"name":"Ada"}'
)
declare -A ids
for type in "${!payloads[@]}"; do
  answer=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
    -d "{\"job_type\":\"$type\",\"payload\":${payloads[$type]}}" "$api/v1/jobs") ||
    fail "submitting a $type job"
  ids[$type]=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["job_id"])' "$answer")
done
job_state() { curl -fsS "${auth[@]}" "$api/v1/jobs/$1/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])'; }
job_done() { [[ $(job_state "$1") =~ ^(completed|failed|cancelled)$ ]]; }
for type in "${!ids[@]}"; do
  wait_for 120 "end of the $type job ${ids[$type]}" job_done "${ids[$type]}"
  state=$(job_state "${ids[$type]}")
  [[ $state == completed ]] || fail "the $type job ended $state: $(curl -fsS "${auth[@]}" "$api/v1/jobs/${ids[$type]}")"
  echo "e2e: $type job ${ids[$type]} completed" >&2
done
step "one job of each type completed"

# 2. Prometheus scrapes the API and every worker, and sees the jobs.
query() { # query PROMQL: prints the JSON result array
  curl -fsS --get --data-urlencode "query=$1" "$prometheus/api/v1/query" |
    python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["data"]["result"]))'
}
count_at_least() { # count_at_least N PROMQL
  local result
  result=$(query "$2") || return 1
  python3 -c 'import json, sys; sys.exit(0 if len(json.loads(sys.argv[1])) >= int(sys.argv[2]) else 1)' "$result" "$1"
}
wait_for 120 "scrape of the API" count_at_least 1 'up{job="dtq-api"} == 1'
wait_for 120 "scrape of all five workers" count_at_least 5 'up{job="dtq-worker"} == 1'
wait_for 60 "completed jobs in every worker's metrics" \
  count_at_least 5 'dtq_worker_jobs_total{outcome="completed"} >= 1'
wait_for 60 "the API's job metrics" count_at_least 5 'dtq_jobs_total{state="completed"} >= 1'
wait_for 60 "the consumer lag of all five workers" count_at_least 5 'dtq_worker_consumer_lag >= 0'
step "Prometheus scrapes the API and the five workers (with their consumer lag)"
# Every dashboard panel's expression, with its variables filled in, answers.
# A rate() needs two scrapes of a series that may have appeared a moment
# ago: each expression gets a few scrape intervals to answer.
python3 "$repo/tests/infra/dashboard_exprs.py" "$repo"/infra/grafana/dashboards/*.json >"$work/exprs"
while IFS=$'\t' read -r where expr; do
  wait_for 60 "an answer to dashboard panel $where ($expr)" count_at_least 1 "$expr"
done <"$work/exprs"
step "$(wc -l <"$work/exprs") dashboard expressions answer"

# 3. A pool loses its only worker: its alert fires.
"${compose[@]}" stop worker-hello
firing() {
  curl -fsS "$prometheus/api/v1/alerts" | python3 -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
sys.exit(0 if any(a["labels"].get("alertname") == "DtqPoolNoReadyWorker" and a["labels"].get("pool") == "hello"
                  and a["state"] == "firing" for a in alerts) else 1)'
}
wait_for 120 "DtqPoolNoReadyWorker firing for pool hello" firing
step "worker-hello stopped; DtqPoolNoReadyWorker fired"

# 4. The GraphQL gateway beside the API, over its gRPC JobService.
"${compose[@]}" --profile graphql up -d gateway
# With an upstream (the API, for the UI and REST) its own probes and
# metrics are under /-/gateway/.
wait_for 120 "the gateway's readiness (its gRPC target answers)" curl -fsS "$gateway/-/gateway/readyz"
curl -fsS "$gateway/-/gateway/healthz" >/dev/null || fail "the gateway's /-/gateway/healthz"
gateway_metrics=$(curl -fsS "$gateway/-/gateway/metrics") || fail "the gateway's /-/gateway/metrics"
grep -q '^dtq_gateway_' <<<"$gateway_metrics" || fail "no dtq_gateway_ series in the gateway's metrics"
graphql() { # graphql QUERY [AUTH-HEADER...]: prints the answer
  local body
  body=$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1]}))' "$1")
  shift
  curl -sS "$@" -H 'Content-Type: application/json' -d "$body" "$gateway/graphql"
}
answer=$(graphql 'mutation { submitJob(input: {jobType: "quote", payload: {max_length: 200}}) { jobId } }' "${auth[@]}")
gql_id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["data"]["submitJob"]["jobId"])' "$answer") ||
  fail "submitJob through the gateway: $answer"
gql_state() {
  graphql "{ job(id: \"$gql_id\") { status { state } } }" "${auth[@]}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["job"]["status"]["state"])'
}
gql_done() { [[ $(gql_state) =~ ^(COMPLETED|FAILED|CANCELLED)$ ]]; }
wait_for 120 "end of the job $gql_id submitted through GraphQL" gql_done
[[ $(gql_state) == COMPLETED ]] || fail "the job submitted through GraphQL ended $(gql_state)"
refused=$(graphql 'mutation { submitJob(input: {jobType: "quote", payload: {}}) { jobId } }')
python3 -c '
import json, sys
errors = json.loads(sys.argv[1]).get("errors") or []
sys.exit(0 if any(e.get("extensions", {}).get("code") == "unauthorized" for e in errors) else 1)' "$refused" ||
  fail "a mutation without the key was not refused as unauthorized: $refused"
# Non-root, as dtq's image: the image says so, and the process runs so.
for image in "$DTQ_IMAGE" "$DTQ_GATEWAY_IMAGE"; do
  user=$(docker image inspect --format '{{.Config.User}}' "$image")
  [[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || fail "$image runs as root (USER \"$user\")"
done
uid=$("${compose[@]}" --profile graphql exec -T gateway node -e 'console.log(process.getuid())' | tr -d '\r')
[[ $uid =~ ^[0-9]+$ && $uid != 0 ]] || fail "the gateway's process runs as uid \"$uid\""
step "gateway: probes, metrics, a GraphQL submit completed, the key required, uid $uid"
