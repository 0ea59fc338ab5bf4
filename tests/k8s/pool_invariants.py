#!/usr/bin/env python3
"""Pool and container invariants of a rendered overlay (tests/k8s, docs/aks.md).

    pool_invariants.py SOURCE_DIR RENDERED.yaml [RENDERED.yaml...]

In every rendered overlay:
- every job type the build ships (each plugins/*/ descriptor's job_type,
  and the SDK's hello example, which the overlays run as a third party's
  plugin) has exactly one pool: one Deployment running `dtq worker --only
  TYPE` and one KEDA ScaledObject aimed at it, with a Kafka trigger per
  priority class that reads that class's topic (jobs.TYPE.v1, and
  jobs.TYPE.high.v1 and jobs.TYPE.low.v1: KafkaSettings' topic_template and
  priority_topic_template) and consumer group (dtq.workers.TYPE, and .high,
  .low: group_id_prefix), read from the adapter's own header so that a
  rename there fails here, and scales on their sum; only the normal class's
  where the workers turn the class topics off
  (KAFKA_PRIORITY_TOPIC_TEMPLATE=off);
- every pool has a PodDisruptionBudget selecting its pods, probes on the
  admin port, and terminationGracePeriodSeconds longer than its drain grace;
- every container of dtq's own (api, gateway, workers) runs non-root with a
  read-only root file system, no capability, no privilege escalation, the
  RuntimeDefault seccomp profile, resources requested and a memory limit,
  and liveness and readiness probes; the backends' containers the same,
  but for the one documented read-write root (Kafka's);
- every TriggerAuthentication a trigger names exists, and each Secret it
  reads is in the overlay or synced from Key Vault (a SecretProviderClass);
- the aks overlay runs Azure's managed Kafka (Event Hubs), Redis and
  MongoDB: no StatefulSet but RabbitMQ's, which listens on AMQPS (5671)
  only; every Kafka trigger reads Event Hubs' endpoint (port 9093) over
  SASL_SSL (a TriggerAuthentication with sasl plaintext, tls enable, user
  $ConnectionString and a password); the API's and workers' egress to
  backends is the managed services' ports and the broker's AMQPS only.
"""
import glob
import os
import re
import sys

import yaml

failures = []


def fail(overlay, message):
    failures.append(f"{overlay}: {message}")


def shipped_job_types(source):
    types = set()
    for path in glob.glob(os.path.join(source, "plugins", "*", "*.cpp")) + [
            os.path.join(source, "plugin-sdk", "examples", "hello", "hello.cpp")]:
        with open(path, encoding="utf-8") as stream:
            types.update(re.findall(r'\.job_type\s*=\s*"([a-z0-9_]+)"', stream.read()))
    return types


def kafka_naming(source):
    header = os.path.join(source, "backends", "kafka", "include", "dtq", "kafka", "kafka_job_queue.hpp")
    with open(header, encoding="utf-8") as stream:
        text = stream.read()
    template = re.search(r'\btopic_template\s*=\s*"([^"]+)"', text)
    classes = re.search(r'priority_topic_template\s*=\s*"([^"]+)"', text)
    prefix = re.search(r'group_id_prefix\s*=\s*"([^"]+)"', text)
    if not template or not classes or not prefix:
        sys.exit(f"pool_invariants: no topic_template, priority_topic_template or group_id_prefix in {header}")
    return template.group(1), classes.group(1), prefix.group(1)


def expected_triggers(job_type, template, class_template, prefix, class_topics):
    """{trigger name: (topic, consumer group)} a pool of job_type must read."""
    expected = {"normal": (template.replace("%s", job_type), prefix + job_type)}
    if class_topics:
        for priority in ("high", "low"):
            expected[priority] = (class_template.replace("%s", job_type).replace("%p", priority),
                                  f"{prefix}{job_type}.{priority}")
    return expected


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def check_container(overlay, owner, pod, container, backend):
    where = f"{owner} container {container['name']}"
    security = container.get("securityContext", {})
    pod_security = pod.get("securityContext", {})
    if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
        fail(overlay, f"{where}: not runAsNonRoot")
    if security.get("allowPrivilegeEscalation") is not False:
        fail(overlay, f"{where}: allowPrivilegeEscalation is not false")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(overlay, f"{where}: capabilities do not drop ALL")
    seccomp = security.get("seccompProfile") or pod_security.get("seccompProfile") or {}
    if seccomp.get("type") != "RuntimeDefault":
        fail(overlay, f"{where}: seccomp profile is not RuntimeDefault")
    if security.get("readOnlyRootFilesystem") is not True and not (backend and container["name"] == "kafka"):
        fail(overlay, f"{where}: root file system is not read-only")
    resources = container.get("resources", {})
    if not resources.get("requests", {}).get("cpu") or not resources.get("requests", {}).get("memory"):
        fail(overlay, f"{where}: no cpu and memory requests")
    if not resources.get("limits", {}).get("memory"):
        fail(overlay, f"{where}: no memory limit")
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in container:
            fail(overlay, f"{where}: no {probe}")


def check_overlay(path, types, template, class_template, prefix):
    overlay = os.path.basename(path)
    with open(path, encoding="utf-8") as stream:
        docs = [doc for doc in yaml.safe_load_all(stream) if doc]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)

    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    for doc in workloads:
        pod = pod_spec(doc)
        backend = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "backend"
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            check_container(overlay, f"{doc['kind']} {doc['metadata']['name']}", pod, container, backend)

    pools = {}
    for doc in by_kind.get("Deployment", []):
        for container in pod_spec(doc)["containers"]:
            args = container.get("args", [])
            if args[:2] == ["worker", "--only"]:
                pools.setdefault(args[2], []).append((doc, container))
    scaled = {}
    for doc in by_kind.get("ScaledObject", []):
        scaled.setdefault(doc["spec"]["scaleTargetRef"]["name"], []).append(doc)

    for job_type in sorted(types):
        found = pools.get(job_type, [])
        if len(found) != 1:
            fail(overlay, f"job type {job_type}: {len(found)} worker Deployments, want exactly 1")
    for job_type, found in sorted(pools.items()):
        if job_type not in types:
            fail(overlay, f"a pool runs job type {job_type}, which no shipped plugin declares")
        for doc, container in found:
            name = doc["metadata"]["name"]
            objects = scaled.get(name, [])
            if len(objects) != 1:
                fail(overlay, f"pool {name}: {len(objects)} ScaledObjects, want exactly 1")
                continue
            spec = objects[0]["spec"]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            expected = expected_triggers(job_type, template, class_template, prefix,
                                         env.get("KAFKA_PRIORITY_TOPIC_TEMPLATE") != "off")
            triggers = {t.get("name"): t for t in spec.get("triggers", []) if t.get("type") == "kafka"}
            if sorted(triggers) != sorted(expected):
                fail(overlay, f"pool {name}: kafka triggers {sorted(map(str, triggers))}, want {sorted(expected)}")
                continue
            for trigger_name, (topic, group) in expected.items():
                metadata = triggers[trigger_name]["metadata"]
                if metadata.get("topic") != topic:
                    fail(overlay, f"pool {name}: trigger {trigger_name} topic {metadata.get('topic')!r}, "
                         f"the code uses {topic!r}")
                if metadata.get("consumerGroup") != group:
                    fail(overlay, f"pool {name}: trigger {trigger_name} consumer group "
                         f"{metadata.get('consumerGroup')!r}, the code uses {group!r}")
            modifiers = spec.get("advanced", {}).get("scalingModifiers")
            if len(expected) > 1:
                terms = sorted(term.strip() for term in str((modifiers or {}).get("formula", "")).split("+"))
                if terms != sorted(expected):
                    fail(overlay, f"pool {name}: scalingModifiers formula {(modifiers or {}).get('formula')!r}, "
                         f"want the sum of {sorted(expected)}")
            elif modifiers:
                fail(overlay, f"pool {name}: scalingModifiers over a single trigger")
            if not 1 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 0):
                fail(overlay, f"pool {name}: replicas must be 1 <= min <= max")
            pod = pod_spec(doc)
            grace_ms = 30000
            args = container.get("args", [])
            if "--drain-grace-ms" in args:
                grace_ms = int(args[args.index("--drain-grace-ms") + 1])
            if pod.get("terminationGracePeriodSeconds", 30) * 1000 <= grace_ms:
                fail(overlay, f"pool {name}: terminationGracePeriodSeconds not longer than the drain grace")
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            admin = env.get("DTQ_ADMIN_LISTEN", "")
            if not admin.endswith(f":{ports.get('admin')}"):
                fail(overlay, f"pool {name}: DTQ_ADMIN_LISTEN {admin!r} is not the admin port")
            for probe in ("livenessProbe", "readinessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if port not in ("admin", ports.get("admin")):
                    fail(overlay, f"pool {name}: {probe} is not on the admin port")
            labels = doc["spec"]["selector"]["matchLabels"]
            budgets = [b for b in by_kind.get("PodDisruptionBudget", [])
                       if b["spec"]["selector"].get("matchLabels") == labels]
            if len(budgets) != 1:
                fail(overlay, f"pool {name}: {len(budgets)} PodDisruptionBudgets select its pods, want 1")
    check_trigger_auth(overlay, by_kind)
    if overlay == "overlay-aks.yaml":
        check_managed_backends(overlay, by_kind)
    return len(pools)


def secret_sources(by_kind):
    """Secrets of the overlay and those a SecretProviderClass syncs: name -> keys."""
    secrets = {}
    for doc in by_kind.get("Secret", []):
        keys = set(doc.get("data", {})) | set(doc.get("stringData", {}))
        secrets[doc["metadata"]["name"]] = keys
    for doc in by_kind.get("SecretProviderClass", []):
        for synced in doc["spec"].get("secretObjects", []):
            secrets[synced["secretName"]] = {d["key"] for d in synced.get("data", [])}
    return secrets


def check_trigger_auth(overlay, by_kind):
    auths = {doc["metadata"]["name"]: doc for doc in by_kind.get("TriggerAuthentication", [])}
    secrets = secret_sources(by_kind)
    for doc in by_kind.get("ScaledObject", []):
        for trigger in doc["spec"].get("triggers", []):
            ref = trigger.get("authenticationRef", {}).get("name")
            if ref and ref not in auths:
                fail(overlay, f"ScaledObject {doc['metadata']['name']}: TriggerAuthentication {ref} missing")
    for name, auth in auths.items():
        for target in auth["spec"].get("secretTargetRef", []):
            if target["key"] not in secrets.get(target["name"], set()):
                fail(overlay, f"TriggerAuthentication {name}: {target['parameter']} reads "
                     f"{target['name']}/{target['key']}, which nothing provides")


def check_managed_backends(overlay, by_kind):
    statefulsets = [doc["metadata"]["name"] for doc in by_kind.get("StatefulSet", [])]
    if statefulsets != ["rabbitmq"]:
        fail(overlay, f"StatefulSets {statefulsets}: only RabbitMQ runs in the cluster")
    for doc in by_kind.get("StatefulSet", []) + by_kind.get("Service", []):
        if doc["metadata"]["name"] != "rabbitmq":
            continue
        if doc["kind"] == "StatefulSet":
            ports = [p["containerPort"] for c in pod_spec(doc)["containers"] for p in c.get("ports", [])]
        else:
            ports = [p["port"] for p in doc["spec"]["ports"]]
        if ports != [5671]:
            fail(overlay, f"{doc['kind']} rabbitmq: ports {ports}, want AMQPS (5671) only")
    # Event Hubs Standard holds 10 topics: the API and the workers keep one
    # job topic per type (plus its dead letters), the classes sharing it.
    for doc in by_kind.get("Deployment", []):
        component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component not in ("api", "worker"):
            continue
        env = {e["name"]: e.get("value") for e in pod_spec(doc)["containers"][0].get("env", [])}
        if env.get("KAFKA_PRIORITY_TOPIC_TEMPLATE") != "off":
            fail(overlay, f"Deployment {doc['metadata']['name']}: KAFKA_PRIORITY_TOPIC_TEMPLATE is "
                 f"{env.get('KAFKA_PRIORITY_TOPIC_TEMPLATE')!r}, want 'off' on Event Hubs Standard")
    auths = {doc["metadata"]["name"]: doc for doc in by_kind.get("TriggerAuthentication", [])}
    settings = {}
    for doc in by_kind.get("Secret", []):
        settings.update({(doc["metadata"]["name"], k): v for k, v in doc.get("stringData", {}).items()})
    for doc in by_kind.get("ScaledObject", []):
        name = doc["metadata"]["name"]
        for trigger in doc["spec"].get("triggers", []):
            if trigger.get("type") != "kafka":
                continue
            metadata = trigger["metadata"]
            if "bootstrapServersFromEnv" in metadata or not str(metadata.get("bootstrapServers", "")).endswith(":9093"):
                fail(overlay, f"ScaledObject {name}: bootstrapServers is not Event Hubs' endpoint (host:9093)")
            auth = auths.get(trigger.get("authenticationRef", {}).get("name"))
            if not auth:
                fail(overlay, f"ScaledObject {name}: no TriggerAuthentication (Event Hubs takes SASL_SSL only)")
                continue
            params = {t["parameter"]: t for t in auth["spec"].get("secretTargetRef", [])}
            want = {"sasl": "plaintext", "tls": "enable", "username": "$ConnectionString"}
            for parameter, value in want.items():
                target = params.get(parameter)
                got = settings.get((target["name"], target["key"])) if target else None
                if got != value:
                    fail(overlay, f"TriggerAuthentication {auth['metadata']['name']}: {parameter} {got!r}, want {value!r}")
            if "password" not in params:
                fail(overlay, f"TriggerAuthentication {auth['metadata']['name']}: no password")
    for doc in by_kind.get("NetworkPolicy", []):
        if doc["metadata"]["name"] != "backends":
            continue
        ports = sorted(p["port"] for rule in doc["spec"].get("egress", []) for p in rule.get("ports", []))
        if ports != [5671, 6380, 9093, 10255]:
            fail(overlay, f"NetworkPolicy backends: egress ports {ports}, want 5671, 6380, 9093, 10255")


def main():
    source = sys.argv[1]
    types = shipped_job_types(source)
    if not types:
        sys.exit("pool_invariants: no job type found in plugins/")
    template, class_template, prefix = kafka_naming(source)
    for path in sys.argv[2:]:
        count = check_overlay(path, types, template, class_template, prefix)
        print(f"{os.path.basename(path)}: {count} pools for job types {', '.join(sorted(types))}")
    for failure in failures:
        print("FAIL", failure)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
