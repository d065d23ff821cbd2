#!/usr/bin/env python3
"""Compares our codec's output with pydicom's (from pydicom_oracle.py).

Usage: compare_json.py MANIFEST OURS_DIR FIXTURE
OURS_DIR holds, for entry i of the manifest, i.result.json ({"ok", "error", "attributes"}) and, when ok,
i.dicom.json (our DICOM JSON bytes). FIXTURE lists allowed differences (json-differences.json).
Prints one line per unexpected difference (and per stale fixture entry); exit status 1 if any.
"""
import json
import math
import os
import sys


def normalise(value):
    """pydicom writes NaN/Infinity; we write null (documented in the fixture's global rules)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def first_difference(a, b, path="$"):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a:
                return f"{path}.{key}: missing in ours (pydicom: {json.dumps(b[key])[:200]})"
            if key not in b:
                return f"{path}.{key}: extra in ours ({json.dumps(a[key])[:200]})"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} values in ours, {len(b)} in pydicom ({json.dumps(a)[:200]} vs {json.dumps(b)[:200]})"
        for index, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    if type(a) in (int, float) and type(b) in (int, float):
        return None if a == b else f"{path}: {a!r} vs pydicom {b!r}"
    return None if a == b else f"{path}: {json.dumps(a)[:200]} vs pydicom {json.dumps(b)[:200]}"


def main():
    manifest_path, ours_dir, fixture_path = sys.argv[1:]
    manifest = json.load(open(manifest_path))
    fixture = json.load(open(fixture_path))
    allowed = {entry["file"]: entry for entry in fixture["files"]}
    used = set()
    problems = []
    compared = 0
    for index, entry in enumerate(manifest):
        path = entry["path"]
        key = next((k for k in allowed if path.endswith(k)), None)
        result = json.load(open(os.path.join(ours_dir, f"{index}.result.json")))
        difference = None
        if entry["ok"] and result["ok"]:
            ours = json.load(open(os.path.join(ours_dir, f"{index}.dicom.json")))
            difference = first_difference(ours, normalise(entry["json"]))
            if difference is None:
                difference = first_difference(result["attributes"], entry["attributes"], "$attributes")
            compared += 1
        elif entry["ok"] and not result["ok"]:
            difference = f"we failed ({result['error']}) where pydicom read it"
        elif not entry["ok"] and result["ok"]:
            difference = f"we read it where pydicom failed ({entry['error'][:120]})"
        if difference is None:
            if key is not None:
                problems.append(f"STALE fixture entry {key}: no difference any more")
                used.add(key)
            continue
        if key is not None:
            used.add(key)
            continue
        problems.append(f"{path}: {difference}")
    for line in problems:
        print(line)
    print(f"compared {compared} of {len(manifest)} files; {len(problems)} unexpected", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
