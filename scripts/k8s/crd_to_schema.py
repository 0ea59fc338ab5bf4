#!/usr/bin/env python3
"""CustomResourceDefinitions to kubeconform's JSON schemas.

    crd_to_schema.py OUT_DIR CRD.yaml...

For every served version of every CRD, writes OUT_DIR/<kind>-<group's first
label>-<version>.json (kubeconform's default file name, lower case), the
version's openAPIV3Schema with apiVersion and kind pinned and, as the API
server's structural pruning would drop them, unknown fields refused
(additionalProperties: false wherever the schema lists properties and does
not keep unknown fields). This is what kubeconform's own
openapi2jsonschema.py does with FILENAME_FORMAT and DENY_ROOT_ADDITIONAL_PROPERTIES.
"""
import json
import os
import sys

import yaml


def strict(node):
    if isinstance(node, dict):
        if ("properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    written = 0
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as stream:
            for crd in yaml.safe_load_all(stream):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                group, kind = spec["group"], spec["names"]["kind"]
                for version in spec["versions"]:
                    if not version.get("served"):
                        continue
                    schema = strict(version["schema"]["openAPIV3Schema"])
                    properties = schema.setdefault("properties", {})
                    properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
                    properties["kind"] = {"type": "string", "enum": [kind]}
                    properties["metadata"] = {"type": "object"}
                    name = f"{kind}-{group.split('.')[0]}-{version['name']}.json".lower()
                    with open(os.path.join(out, name), "w", encoding="utf-8") as target:
                        json.dump(schema, target, indent=1)
                    written += 1
    if written == 0:
        sys.exit("crd_to_schema: no served CRD version found")
    print(f"crd_to_schema: {written} schemas in {out}")


if __name__ == "__main__":
    main()
