#!/usr/bin/env python3
"""Turns api/openapi.yaml into the JSON that GET /openapi.json serves.

  openapi_embed.py IN.yaml OUT.cpp OUT.json

OUT.cpp defines dtq::api::openapi_document() over the minified JSON; OUT.json
is the same JSON for the tests (tests/openapi/). Fails, naming the place,
when the YAML does not parse or is not an OpenAPI 3.1 document with paths.
Needs PyYAML (Debian's python3-yaml; scripts/install-deps.sh).
"""
import json
import sys

import yaml


def main(source, out_cpp, out_json):
    with open(source, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1"):
        sys.exit(f"{source}: not an OpenAPI 3.1 document")
    if not document.get("paths"):
        sys.exit(f"{source}: no paths")
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    delimiter = "OPENAPI"
    if f"){delimiter}\"" in text:
        sys.exit(f"{source}: the text holds the raw string's delimiter")
    with open(out_json, "w", encoding="utf-8") as f:
        f.write(text)
    # Split into pieces: compilers limit one string literal's length.
    pieces = [text[i:i + 16000] for i in range(0, len(text), 16000)]
    with open(out_cpp, "w", encoding="utf-8") as f:
        f.write("// Generated from api/openapi.yaml by api/openapi_embed.py. Do not edit.\n")
        f.write('#include <string_view>\n\nnamespace dtq::api {\n\n')
        f.write("std::string_view openapi_document() {\n  static constexpr char kText[] =\n")
        for piece in pieces:
            f.write(f'      R"{delimiter}({piece}){delimiter}"\n')
        f.write("      ;\n  return {kText, sizeof kText - 1};\n}\n\n}  // namespace dtq::api\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
