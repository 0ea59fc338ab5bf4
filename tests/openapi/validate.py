"""Responses checked against the OpenAPI document (the JSON the server
serves, api/openapi.yaml): the operation exists, the status code is listed
for it, the Content-Type is one it lists, and a JSON body validates against
its schema (JSON Schema 2020-12, as OpenAPI 3.1 says, formats checked).

  validate.py DOCUMENT RECORDS...   checks recorded responses, one JSON
      object a line: {"method","path","status","content_type","body"}
      (what the functional tests record with DTQ_OPENAPI_RECORD set)
"""
import json
import re
import sys
import urllib.parse

import jsonschema

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _escape(part):
    return part.replace("~", "~0").replace("/", "~1")


class Document:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.document = json.load(f)
        self.templates = []
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self.templates.append((re.compile(pattern), template, item))

    def operation(self, method, path):
        """(template, operation) for a request, or (None, None)."""
        path = urllib.parse.urlsplit(path).path
        path = "/" + "/".join(p for p in path.split("/") if p)
        for pattern, template, item in self.templates:
            if pattern.match(path) and method.lower() in item:
                return template, item[method.lower()]
        return None, None

    def _deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            target = self.document
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def problems(self, method, path, status, content_type, body):
        """What is wrong with a response; empty when it conforms."""
        template, operation = self.operation(method, path)
        if operation is None:
            return self._outside(method, path, status, content_type, body)
        where = f"{method} {template} {status}"
        responses = operation["responses"]
        if str(status) not in responses:
            return [f"{where}: status not documented (documented: {', '.join(responses)})"]
        response = self._deref(responses[str(status)])
        content = response.get("content", {})
        media = (content_type or "").split(";")[0].strip().lower()
        if not content:
            return [] if not body else [f"{where}: a body where none is documented"]
        if media not in content:
            return [f"{where}: Content-Type {content_type!r} not documented ({', '.join(content)})"]
        if media != "application/json":
            return []
        try:
            value = json.loads(body)
        except ValueError as error:
            return [f"{where}: body is not JSON ({error}): {body[:200]!r}"]
        pointer = "/".join(["#", "paths", _escape(template), method.lower(), "responses",
                            str(status)])
        if "$ref" in responses[str(status)]:
            pointer = responses[str(status)]["$ref"]
        return self._invalid(where, value, pointer + "/content/" + _escape(media) + "/schema")

    def _invalid(self, where, value, pointer):
        schema = dict(self.document, **{"$ref": pointer})
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        return [f"{where}: {error.json_path}: {error.message}" for error in
                validator.iter_errors(value)]

    def _outside(self, method, path, status, content_type, body):
        """A request no operation takes, answered as the document's
        description says: 404 (no route), 405 (a route, not this method),
        a refusal of the reader before any route (400, 403 for the Host,
        413, 431, 501), all in the error shape; a CORS preflight (204); a
        file of the UI (a GET outside /v1)."""
        where = f"{method} {path} {status}"
        if method == "OPTIONS" and status == 204:
            return [] if not body else [f"{where}: a preflight with a body"]
        if 200 <= status < 300 and method == "GET" and not path.startswith("/v1"):
            return []  # the UI's files (--ui-dir)
        if status in (400, 403, 404, 405, 413, 431, 501):
            if (content_type or "").split(";")[0].strip().lower() != "application/json":
                return [f"{where}: Content-Type {content_type!r}, not the error shape's"]
            try:
                value = json.loads(body)
            except ValueError:
                return [f"{where}: body is not JSON: {body[:200]!r}"]
            return self._invalid(where, value, "#/components/schemas/Error")
        return [f"{method} {path}: no such operation in the document ({status})"]


def main(document_path, *records):
    document = Document(document_path)
    problems, checked = [], 0
    for record_path in records:
        with open(record_path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                checked += 1
                problems += document.problems(record["method"], record["path"], record["status"],
                                              record.get("content_type", ""), record.get("body", ""))
    for problem in problems:
        print("openapi:", problem)
    print(f"validate: {checked} responses checked, {len(problems)} problems")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
