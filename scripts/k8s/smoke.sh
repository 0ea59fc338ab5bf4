#!/usr/bin/env bash
# After a deploy: one job of each job type through the public endpoint,
# each followed until it completes (the pipeline's Smoke stage).
#
#   DTQ_API_TOKEN=... scripts/k8s/smoke.sh https://dtq.example.com
#
# The job types are those the API lists (GET /v1/job-types): every pool
# deployed is tried; a type without a sample payload below fails.
set -euo pipefail
base=${1:?usage: smoke.sh BASE_URL}
: "${DTQ_API_TOKEN:?set DTQ_API_TOKEN}"
auth=(-H "Authorization: Bearer $DTQ_API_TOKEN")
declare -A payloads=(
  [weather]='{"city":"Austin","country_code":"US"}'
  [quote]='{"max_length":200}'
  [exchange_rate]='{"base":"USD","target":"EUR","amount":10}'
  [github_user]='{"username":"octocat"}'
  [hello]='{"name":"Ada"}'
)
fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

curl -fsS --max-time 10 "$base/healthz" >/dev/null || fail "$base/healthz does not answer"
mapfile -t types < <(curl -fsS --max-time 10 "${auth[@]}" "$base/v1/job-types" |
  json '"\n".join(t["job_type"] if isinstance(t, dict) else t for t in (d.get("job_types", d) if isinstance(d, dict) else d))')
((${#types[@]} > 0)) || fail "the API lists no job type"
declare -A ids
for type in "${types[@]}"; do
  [[ -n ${payloads[$type]:-} ]] || fail "no sample payload for job type $type (add one to scripts/k8s/smoke.sh)"
  ids[$type]=$(curl -fsS --max-time 10 "${auth[@]}" -H 'Content-Type: application/json' \
    -d "{\"job_type\":\"$type\",\"payload\":${payloads[$type]}}" "$base/v1/jobs" | json 'd["job_id"]') ||
    fail "submitting a $type job"
done
for type in "${!ids[@]}"; do
  state=queued
  for _ in $(seq 120); do
    state=$(curl -fsS --max-time 10 "${auth[@]}" "$base/v1/jobs/${ids[$type]}/status" | json 'd["state"]') || state=unknown
    [[ $state =~ ^(completed|failed|cancelled)$ ]] && break
    sleep 1
  done
  [[ $state == completed ]] || fail "the $type job ${ids[$type]} ended $state"
  echo "smoke: $type job ${ids[$type]} completed"
done
echo "smoke: ${#ids[@]} job types, one job each, all completed through $base"
