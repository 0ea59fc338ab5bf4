#!/usr/bin/env python3
"""Every PromQL expression of dtq's Grafana dashboards, with the dashboard's
variables filled in as Grafana would ($job_type: All, $__rate_interval: 1m).

  dashboard_exprs.py DASHBOARD.json...          one "WHERE<TAB>EXPR" a line
  dashboard_exprs.py --rules DASHBOARD.json...  a Prometheus rules file holding
      each expression as a recording rule, for `promtool check rules`

Fails on a panel target without an expression, or a variable it does not know.
"""
import json
import re
import sys

FILLED = {"job_type": ".*", "__rate_interval": "1m", "__interval": "1m", "__range": "1h"}


def fill(expr, where):
    def one(match):
        name = match.group(1) or match.group(2)
        if name not in FILLED:
            sys.exit(f"{where}: unknown variable ${name} in {expr!r}")
        return FILLED[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def expressions(paths):
    for path in paths:
        with open(path) as f:
            dashboard = json.load(f)
        for panel in panels(dashboard["panels"]):
            if panel["type"] == "row":
                continue
            targets = panel.get("targets") or sys.exit(f"{path}: panel {panel['title']!r} has no targets")
            for target in targets:
                where = f"{dashboard['uid']}/{panel['id']}/{target['refId']}"
                expr = target.get("expr") or sys.exit(f"{where}: a target without an expression")
                yield where, fill(expr, where)


def main(args):
    rules = args[:1] == ["--rules"]
    found = list(expressions(args[1:] if rules else args))
    if not found:
        sys.exit("no expressions found")
    if not rules:
        for where, expr in found:
            print(f"{where}\t{expr}")
        return
    print("groups:\n  - name: dashboards\n    rules:")
    for where, expr in found:
        name = "dashboard:" + re.sub(r"[^a-zA-Z0-9_]", "_", where)
        print(f"      - record: {name}\n        expr: {json.dumps(expr)}")


if __name__ == "__main__":
    main(sys.argv[1:])
