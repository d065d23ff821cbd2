#!/usr/bin/env python3
"""The truth for the DICOM codec tests: what pydicom 3 makes of each file.

Usage: pydicom_oracle.py OUT_DIR BULK_THRESHOLD INPUT [INPUT...]
INPUT is a file or a folder (searched recursively for *.dcm and extension-less files, README excluded).

Writes OUT_DIR/manifest.json: a list of entries, one per file:
  path, ok (pydicom read it and built to_json_dict), error (text when not ok),
  dataset_offset (first byte after preamble/File Meta, where the data set starts),
  transfer_syntax (the UID pydicom reads the data set with; absent TS is guessed as pydicom does),
  json (Dataset.to_json_dict with bulk_data_threshold and a handler returning "bulk:TTTTTTTT:LENGTH"),
  attributes (the catalog attributes, see attributes()).
Pixel Data (7FE0,0010) is turned into a BulkDataURI even when pydicom would inline it: our writer never
inlines Pixel Data (listed in Fixtures/json-differences.json).
"""
import json
import math
import os
import sys
import warnings

import pydicom
from pydicom import config
from pydicom.filereader import read_preamble, _read_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian

warnings.simplefilter("ignore")
config.settings.reading_validation_mode = config.WARN

STRING_ATTRIBUTES = {
    "patientID": "PatientID", "patientName": "PatientName", "patientBirthDate": "PatientBirthDate",
    "patientSex": "PatientSex", "studyInstanceUID": "StudyInstanceUID", "studyDate": "StudyDate",
    "studyTime": "StudyTime", "studyDescription": "StudyDescription", "accessionNumber": "AccessionNumber",
    "seriesInstanceUID": "SeriesInstanceUID", "seriesDescription": "SeriesDescription", "modality": "Modality",
    "sopClassUID": "SOPClassUID", "sopInstanceUID": "SOPInstanceUID",
}
INTEGER_ATTRIBUTES = {"seriesNumber": "SeriesNumber", "instanceNumber": "InstanceNumber", "numberOfFrames": "NumberOfFrames"}


def bulk_handler(elem):
    return f"bulk:{elem.tag:08X}:{len(elem.value)}"


def never_inline_pixel_data(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "7FE00010" and isinstance(value, dict) and "InlineBinary" in value:
                import base64
                length = len(base64.b64decode(value.pop("InlineBinary")))
                value["BulkDataURI"] = f"bulk:7FE00010:{length}"
            never_inline_pixel_data(value)
    elif isinstance(obj, list):
        for item in obj:
            never_inline_pixel_data(item)


def finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def value_or_none(ds, keyword):
    try:
        if keyword not in ds:
            return None
        return ds[keyword].value
    except Exception:
        return None


def attributes(ds):
    result = {}
    for name, keyword in STRING_ATTRIBUTES.items():
        value = value_or_none(ds, keyword)
        if value is None or value == "" or (isinstance(value, (list, MultiValue)) and len(value) == 0):
            result[name] = None
        elif isinstance(value, (list, MultiValue)):
            result[name] = "\\".join(str(v) for v in value)
        else:
            text = str(value)
            result[name] = text if text != "" else None
    for name, keyword in INTEGER_ATTRIBUTES.items():
        value = value_or_none(ds, keyword)
        if isinstance(value, (list, MultiValue)):
            value = value[0] if len(value) else None
        try:
            result[name] = int(value) if value not in (None, "") else None
        except Exception:
            result[name] = None
    return result


def effective_transfer_syntax(fp, meta):
    ts = meta.get("TransferSyntaxUID")
    if ts is not None:
        return str(ts)
    start = fp.tell()
    head = fp.read(6)
    fp.seek(start)
    if len(head) < 6:
        return ImplicitVRLittleEndian
    from pydicom.values import converters
    vr = head[4:6].decode("latin-1")
    if vr in converters.keys():
        group = int.from_bytes(head[0:2], "little")
        return ExplicitVRBigEndian if group >= 1024 else ExplicitVRLittleEndian
    return ImplicitVRLittleEndian


def oracle(path, threshold):
    entry = {"path": path, "ok": False}
    try:
        with open(path, "rb") as fp:
            read_preamble(fp, True)
            meta = _read_file_meta_info(fp)
            entry["dataset_offset"] = fp.tell()
            entry["transfer_syntax"] = effective_transfer_syntax(fp, meta)
    except Exception as exc:  # noqa: BLE001 - any failure is the oracle's answer
        entry["error"] = f"meta: {type(exc).__name__}: {exc}"
        return entry
    try:
        ds = pydicom.dcmread(path, force=True)
        body = ds.to_json_dict(bulk_data_threshold=threshold, bulk_data_element_handler=bulk_handler)
        never_inline_pixel_data(body)
        # Round trip through the JSON text as our output is compared as JSON text. NaN/Infinity become
        # null, as we write them (Fixtures/json-differences.json).
        entry["json"] = finite(json.loads(json.dumps(body)))
        entry["attributes"] = attributes(ds)
        entry["ok"] = True
    except Exception as exc:  # noqa: BLE001
        entry["error"] = f"{type(exc).__name__}: {exc}"
    return entry


def inputs(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for root, _dirs, files in os.walk(path):
            for name in sorted(files):
                if name.startswith("README"):
                    continue
                if name.endswith(".dcm") or "." not in name:
                    yield os.path.join(root, name)


def main():
    out_dir, threshold, *paths = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    entries = [oracle(path, int(threshold)) for path in sorted(set(inputs(paths)))]
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(entries, f)


if __name__ == "__main__":
    main()
