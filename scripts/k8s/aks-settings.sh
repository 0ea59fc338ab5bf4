#!/usr/bin/env bash
# Prints k8s/overlays/aks/settings.yaml for this deployment, from the
# environment the Jenkins VM's /etc/dtq/deploy.env sets (cloud-init, from
# ansible's variables): DTQ_PUBLIC_HOST, DTQ_KEY_VAULT_NAME, DTQ_TENANT_ID,
# DTQ_WORKLOAD_CLIENT_ID, DTQ_EVENT_HUBS_NAMESPACE (Event Hubs' Kafka
# endpoint, for KEDA). Names, not secrets.
set -euo pipefail
: "${DTQ_PUBLIC_HOST:?}" "${DTQ_KEY_VAULT_NAME:?}" "${DTQ_TENANT_ID:?}" "${DTQ_WORKLOAD_CLIENT_ID:?}" "${DTQ_EVENT_HUBS_NAMESPACE:?}"
cat <<SETTINGS
# Written by scripts/k8s/aks-settings.sh. Not deployed itself.
apiVersion: v1
kind: ConfigMap
metadata:
  name: dtq-settings
  annotations: {config.kubernetes.io/local-config: "true"}
data:
  publicHost: $DTQ_PUBLIC_HOST
  keyVaultName: $DTQ_KEY_VAULT_NAME
  tenantId: "$DTQ_TENANT_ID"
  identityClientId: "$DTQ_WORKLOAD_CLIENT_ID"
  kafkaBootstrap: $DTQ_EVENT_HUBS_NAMESPACE.servicebus.windows.net:9093
SETTINGS
