#!/usr/bin/env python3
"""Converts doc/openapi.yaml to JSON and writes it as a C array, so that
`vidgen serve` embeds the document it serves at /api/v1/openapi.json and
needs no YAML parser at run time. Run by the build (core/serve/local.mk):

    openapi_embed.py doc/openapi.yaml core/serve/openapi_spec.c

Refuses (exit 1, file:line where YAML says so) a file that is not YAML, not
an OpenAPI 3.1 document, or holds a value JSON cannot carry (a date, a
non-string key)."""

import json
import os
import sys

import yaml


def refuse(msg):
    sys.stderr.write("openapi_embed: %s\n" % msg)
    sys.exit(1)


def check_json_values(node, where):
    """YAML has values JSON lacks; an unquoted 2026-01-01 is a date."""
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                refuse("%s: key %r is not a string (quote it)" % (where, k))
            check_json_values(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            check_json_values(v, "%s/%d" % (where, i))
    elif not (node is None or isinstance(node, (str, bool, int, float))):
        refuse("%s: %r is not a JSON value (quote it)" % (where, node))


def main():
    if len(sys.argv) != 3:
        refuse("usage: openapi_embed.py IN.yaml OUT.c")
    src, out = sys.argv[1], sys.argv[2]
    try:
        with open(src, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        refuse("%s:%d: %s" % (src, mark.line + 1 if mark else 0, e.problem))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        refuse("%s: %s" % (src, e))
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1."):
        refuse("%s: not an OpenAPI 3.1 document (openapi: 3.1.x)" % src)
    check_json_values(doc, "#")
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    lines = ["/* Generated from %s by scripts/openapi_embed.py: do not edit. */" % src,
             "#include <stddef.h>",
             '#include "serve/openapi.h"',
             "",
             "const char openapi_spec_json[] = {"]
    for i in range(0, len(text), 16):
        lines.append("\t" + ", ".join("0x%02x" % b for b in text[i:i + 16]) + ",")
    lines += ["\t0x00", "};", "const size_t openapi_spec_json_len = %d;" % len(text), ""]
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("\n".join(lines))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
