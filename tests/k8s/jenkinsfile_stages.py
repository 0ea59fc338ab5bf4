#!/usr/bin/env python3
"""The Jenkinsfile's shape (tests/k8s, k8s_jenkins), what groovy lint cannot see.

    jenkinsfile_stages.py Jenkinsfile

- the stages are exactly Build, Test, Images, Push, Deploy, Smoke, in that order;
- no manual step: no `input`, no `when` that waits for a person, no
  `catchError`/`unstable` that would let a failed stage pass;
- every multi-line shell step stops at the first failure (`set -euo pipefail`);
- Build runs the README's commands, Test runs `make test`, Images tags with the
  commit, Deploy sets the images with kustomize, applies and waits for every
  Deployment's rollout, Smoke submits through the public endpoint.
"""
import re
import sys

STAGES = ["Build", "Test", "Images", "Push", "Deploy", "Smoke"]
REQUIRED = {
    "Build": ["scripts/install-deps.sh test", "make build"],
    "Test": ["make test"],
    "Images": ["git rev-parse HEAD", "docker build", "dtq-worker-hello", "dtq-gateway"],
    "Push": ["docker push", "az acr login"],
    "Deploy": ["kustomize edit set image", "kubectl apply", "rollout status"],
    "Smoke": ["scripts/k8s/smoke.sh", "https://$DTQ_PUBLIC_HOST"],
}


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    failures = []
    found = re.findall(r"stage\('([^']+)'\)", text)
    if found != STAGES:
        failures.append(f"stages {found}, want {STAGES}")
    for word in ("input ", "input(", "catchError", "unstable(", "timeout(time: 0"):
        if word in text:
            failures.append(f"a step that waits for a person or hides a failure: {word.strip()}")
    bodies = re.split(r"stage\('", text)[1:]
    for body in bodies:
        name = body.split("'", 1)[0]
        for needle in REQUIRED.get(name, []):
            if needle not in body:
                failures.append(f"stage {name} lacks {needle!r}")
        for script in re.findall(r"sh '''(.*?)'''", body, re.S):
            if "set -euo pipefail" not in script:
                failures.append(f"a shell step of stage {name} does not stop at the first failure")
    for failure in failures:
        print("FAIL", failure)
    if failures:
        sys.exit(1)
    print(f"Jenkinsfile: stages {' -> '.join(found)}; no manual step; every script stops at a failure")


if __name__ == "__main__":
    main()
