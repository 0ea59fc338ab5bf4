#!/usr/bin/env python3
"""A compose override that runs dtq's rendered containers (tests/k8s, k8s_local_run).

    compose_from_manifests.py RENDERED.yaml > override.yml

For every rendered Deployment whose container runs dtq's images (the API
and each worker pool), the service of the same name in infra/compose gets
the container exactly as rendered: image (by name: `dtq` is the test's
$DTQ_IMAGE, `dtq-worker-hello` its $DTQ_HELLO_WORKER_IMAGE), args as the
command, the environment resolved as the kubelet would (a Secret's key
replaced by the test's value for it, the pod IP by the service's own name,
$(VAR) references expanded), the user, a read-only root (its emptyDir /tmp the
stack's tmpfs), every capability dropped, and the readiness probe as the
health check. tests/infra/compose_e2e.sh then runs a job of each type
through them. The test override's own variables (the fake provider's URL)
stay: the plugins reach no internet.
"""
import re
import sys

import yaml

IMAGES = {"dtq": "${DTQ_IMAGE}", "dtq-worker-hello": "${DTQ_HELLO_WORKER_IMAGE}"}
# The test stack's values for what the manifests read from Secrets.
SECRETS = {
    ("dtq-secrets", "api-token"): "${DTQ_API_TOKEN}",
    ("dtq-secrets", "cluster-secret"): "${DTQ_CLUSTER_SECRET}",
    ("dtq-secrets", "github-token"): "",
    ("dtq-backends", "kafka-bootstrap"): "kafka:9092",
    ("dtq-backends", "redis-url"): "redis://redis:6379/0",
    ("dtq-backends", "mongodb-uri"): "mongodb://mongo:27017/dtq",
    ("dtq-backends", "amqp-url"): "amqp://guest:guest@rabbitmq:5672/%2f",
}


def fail(message):
    sys.exit(f"compose_from_manifests: {message}")


def resolve_env(name, container):
    resolved = {}
    for entry in container.get("env", []):
        key = entry["name"]
        if "value" in entry:
            # $(VAR) of an earlier variable, as the kubelet expands it.
            value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                           lambda m: resolved.get(m.group(1), m.group(0)), entry["value"])
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["secretKeyRef"]
            if (ref["name"], ref["key"]) not in SECRETS:
                fail(f"{name}: no test value for Secret {ref['name']} key {ref['key']}")
            value = SECRETS[(ref["name"], ref["key"])]
        elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP":
            value = name  # the container's address on the compose network
        else:
            fail(f"{name}: cannot resolve variable {key}")
        resolved[key] = value
    return resolved


def service(name, pod, container):
    image = container["image"].split(":")[0]
    if image not in IMAGES:
        fail(f"{name}: image {container['image']} is none of the test's images")
    security, pod_security = container.get("securityContext", {}), pod.get("securityContext", {})
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    tmpfs = [m["mountPath"] for m in container.get("volumeMounts", [])
             if "emptyDir" in volumes.get(m["name"], {})]
    # infra/compose mounts a tmpfs on /tmp already, and compose would add a
    # second one of the same path (tmpfs lists are concatenated).
    if set(tmpfs) - {"/tmp"}:
        fail(f"{name}: emptyDir mounts {sorted(set(tmpfs) - {'/tmp'})} beyond the stack's /tmp tmpfs")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    probe = container["readinessProbe"]["httpGet"]
    port = ports.get(probe["port"], probe["port"])
    result = {
        "image": IMAGES[image],
        "command": [str(arg) for arg in container.get("args", [])],
        "environment": resolve_env(name, container),
        "user": f"{user}:{group}",
        "read_only": bool(security.get("readOnlyRootFilesystem")),
        "cap_drop": ["ALL"] if security.get("capabilities", {}).get("drop") == ["ALL"] else [],
        "security_opt": ["no-new-privileges:true"] if security.get("allowPrivilegeEscalation") is False else [],
        "healthcheck": {"test": ["CMD", "curl", "-fsS", f"http://127.0.0.1:{port}{probe['path']}"],
                        "interval": "5s", "timeout": "3s", "retries": 30},
    }
    if container.get("command"):
        fail(f"{name}: a command overrides the image's entry point; the override covers args only")
    return result


def main():
    with open(sys.argv[1], encoding="utf-8") as stream:
        docs = [d for d in yaml.safe_load_all(stream) if d]
    services = {}
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        name = doc["metadata"]["name"]
        for container in pod["containers"]:
            if container["image"].split(":")[0] in IMAGES:
                services[name] = service(name, pod, container)
    if not any(n.startswith("worker-") for n in services):
        fail("no worker pool found")
    print("# Made by tests/k8s/compose_from_manifests.py from the rendered manifests.")
    yaml.safe_dump({"services": services}, sys.stdout, sort_keys=True)
    print(f"compose_from_manifests: {', '.join(sorted(services))}", file=sys.stderr)


if __name__ == "__main__":
    main()
