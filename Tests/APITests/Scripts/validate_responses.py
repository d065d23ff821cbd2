#!/usr/bin/env python3
"""Checks HTTP responses against openapi.yaml.

stdin: JSON array of {method, path, status, headers{lowercase: value}, body}. For each response of a
documented operation: the status is documented, the Content-Type is the documented media type, the body
validates against the documented schema (JSON Schema 2020-12, formats checked), and required response
headers are present and valid. A 404 for an undocumented path and a 405 for an undocumented method are
checked as problem+json (405 with Allow). Exit 1 with one line per mismatch.
"""
import json
import os
import re
import sys

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SPEC_URI = "urn:dicom-ingest:openapi"

with open(os.path.join(ROOT, "openapi.yaml"), encoding="utf-8") as f:
    SPEC = yaml.safe_load(f)
REGISTRY = Registry().with_resource(SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012))
FORMATS = FormatChecker()


def pointer(*parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validator(json_pointer):
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/{json_pointer}"}, registry=REGISTRY, format_checker=FORMATS)


def resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        node = SPEC
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


TEMPLATES = [(t, template_regex(t)) for t in SPEC["paths"]]
PROBLEM = validator(pointer("components", "schemas", "Problem"))


def check(entry):
    errors = []
    method = entry["method"].lower()
    status = str(entry["status"])
    headers = entry["headers"]
    media = headers.get("content-type", "").split(";")[0].strip()
    body = entry["body"]
    label = f'{entry["method"]} {entry["path"]} -> {status}'
    if "x-request-id" not in headers:
        errors.append(f"{label}: no X-Request-Id")
    template = next((t for t, rx in TEMPLATES if rx.match(entry["path"])), None)
    operation = SPEC["paths"].get(template, {}).get(method) if template else None
    if method == "head" and template and "get" in SPEC["paths"][template]:
        return errors  # HEAD carries no body to check
    if operation is None:
        expected = "405" if template else "404"
        if status not in (expected, "401", "400"):
            errors.append(f"{label}: undocumented path/method answered {status}, not {expected}")
        if media != "application/problem+json":
            errors.append(f"{label}: content type {media!r} is not application/problem+json")
        else:
            for e in PROBLEM.iter_errors(json.loads(body)):
                errors.append(f"{label}: {e.message}")
        if status == "405" and "allow" not in headers:
            errors.append(f"{label}: 405 without Allow")
        return errors
    responses = operation["responses"]
    if status not in responses:
        return errors + [f"{label}: status not documented for {method.upper()} {template}"]
    response = resolve(responses[status])
    for name, header in (response.get("headers") or {}).items():
        header = resolve(header)
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                errors.append(f"{label}: missing required header {name}")
            continue
        schema = header.get("schema", {})
        for e in Draft202012Validator(schema, format_checker=FORMATS).iter_errors(value):
            errors.append(f"{label}: header {name}: {e.message}")
    content = response.get("content")
    if not content:
        if body:
            errors.append(f"{label}: body where the spec documents none")
        return errors
    if media not in content:
        return errors + [f"{label}: content type {media!r} not in {sorted(content)}"]
    if media.endswith("json"):
        try:
            instance = json.loads(body)
        except ValueError as e:
            return errors + [f"{label}: body is not JSON: {e}"]
        ref = pointer("paths", template, method, "responses", status)
        if "$ref" in responses[status]:
            ref = responses[status]["$ref"][2:]
        v = validator(f"{ref}/content/{pointer(media)}/schema")
        for e in v.iter_errors(instance):
            path = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"{label}: body /{path}: {e.message[:300]}")
    return errors


def main():
    entries = json.load(sys.stdin)
    failures = []
    for entry in entries:
        failures += check(entry)
    for line in failures:
        print(line)
    print(f"checked {len(entries)} responses, {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
