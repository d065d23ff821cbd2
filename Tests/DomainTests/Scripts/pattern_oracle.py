#!/usr/bin/env python3
"""Pattern oracle for ListenerValidation: reads [{"pattern": p, "value": s}, ...] on stdin and prints a
JSON list of booleans: whether s is valid against {"type": "string", "pattern": p} per jsonschema_rs
(the JSON Schema validator schemathesis uses, ECMA-262 regex semantics)."""
import json
import sys

import jsonschema_rs

cases = json.load(sys.stdin)
validators = {}
out = []
for case in cases:
    p = case["pattern"]
    if p not in validators:
        validators[p] = jsonschema_rs.validator_for({"type": "string", "pattern": p})
    out.append(validators[p].is_valid(case["value"]))
print(json.dumps(out))
