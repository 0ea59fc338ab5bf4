#!/usr/bin/env bash
# The self-contained overlay's Secrets, made with random values in the
# current kubectl context's cluster (never in the repository):
#   dtq-secrets              api-token, cluster-secret, github-token ($DTQ_GITHUB_TOKEN, may be empty)
#   dtq-backend-credentials  the in-cluster backends' users and passwords
#   dtq-backends             the four backend URIs built from them
#   dtq-tls                  a self-signed certificate for $DTQ_PUBLIC_HOST (default dtq.local)
# An existing Secret is kept: run it again safely; delete one to renew it.
#
#   scripts/k8s/make-secrets.sh && kubectl apply -k k8s/overlays/selfcontained
#
# kubectl: $DTQ_KUBECTL when set, else the project's own (built once by
# scripts/k8s/kube-apiserver.sh, the release the manifests are tested with).
set -euo pipefail
ns=${DTQ_NAMESPACE:-dtq}
host=${DTQ_PUBLIC_HOST:-dtq.local}
kubectl=${DTQ_KUBECTL:-$("$(dirname "${BASH_SOURCE[0]}")/kube-apiserver.sh" kubectl)}
random() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
exists() { "$kubectl" -n "$ns" get secret "$1" >/dev/null 2>&1; }
value() { "$kubectl" -n "$ns" get secret dtq-backend-credentials -o "jsonpath={.data.$1}" | base64 -d; }

"$kubectl" get namespace "$ns" >/dev/null 2>&1 || "$kubectl" create namespace "$ns"
exists dtq-secrets || "$kubectl" -n "$ns" create secret generic dtq-secrets \
  --from-literal=api-token="$(random 32)" --from-literal=cluster-secret="$(random 32)" \
  --from-literal=github-token="${DTQ_GITHUB_TOKEN:-}"
exists dtq-backend-credentials || "$kubectl" -n "$ns" create secret generic dtq-backend-credentials \
  --from-literal=redis-password="$(random 24)" --from-literal=mongo-user=dtq \
  --from-literal=mongo-password="$(random 24)" --from-literal=rabbitmq-user=dtq \
  --from-literal=rabbitmq-password="$(random 24)"
exists dtq-backends || "$kubectl" -n "$ns" create secret generic dtq-backends \
  --from-literal=kafka-bootstrap=kafka:9092 \
  --from-literal=redis-url="redis://:$(value redis-password)@redis:6379/0" \
  --from-literal=mongodb-uri="mongodb://$(value mongo-user):$(value mongo-password)@mongo:27017/dtq?authSource=admin" \
  --from-literal=amqp-url="amqp://$(value rabbitmq-user):$(value rabbitmq-password)@rabbitmq:5672/%2f"
if ! exists dtq-tls; then
  tls=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$host" -addext "subjectAltName=DNS:$host" \
    -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null
  "$kubectl" -n "$ns" create secret tls dtq-tls --cert "$tls/tls.crt" --key "$tls/tls.key"
  rm -rf "$tls"
fi
echo "make-secrets: dtq-secrets, dtq-backend-credentials, dtq-backends and dtq-tls present in namespace $ns"
