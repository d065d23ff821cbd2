"""Independent checks of what dicom-ingest stored: pydicom reads the object, the data set bytes equal
what was sent, the file meta is right, the JSON equals pydicom's for non-bulk elements."""
import gzip
import io
import json
import warnings

import pydicom

import corpus

IMPLEMENTATION_CLASS_UID = "2.25.146024011393546101064577402549474563427"
BULK_THRESHOLD = 1024
PIXEL_DATA_TAGS = {"7FE00010", "7FE00008", "7FE00009"}


def read_object(s3, bucket, key):
    obj = s3.get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    encoding = obj.get("ContentEncoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    return body, obj.get("ContentType"), encoding


def check_part10(stored, sent_path, calling_ae, called_ae, exact=False):
    """Returns the pydicom dataset of the stored object after checking it against the sent file.

    exact=True: the data set bytes must equal the file's (the sender sent them verbatim: rawscu).
    Otherwise (DCMTK and pynetdicom re-encode what they send) every element must be equal."""
    header, dataset = corpus.split_part10(stored)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(stored))
        original = pydicom.dcmread(sent_path)
    if exact:
        sent = corpus.dataset_bytes(sent_path)
        assert dataset == sent, f"data set bytes differ for {sent_path} ({len(dataset)} vs {len(sent)} bytes)"
    else:
        _assert_same_elements(ds, original, sent_path)
    meta = ds.file_meta
    assert meta.FileMetaInformationVersion == b"\x00\x01"
    assert meta.MediaStorageSOPClassUID == original.SOPClassUID
    assert meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.SourceApplicationEntityTitle.strip() == calling_ae
    if "ReceivingApplicationEntityTitle" in meta:
        assert meta.ReceivingApplicationEntityTitle.strip() == called_ae
    return ds


def _assert_same_elements(stored, original, where):
    def elements(dataset):
        # Senders may drop group lengths and Data Set Trailing Padding when they re-encode.
        return {e.tag: e for e in dataset if e.tag.element != 0x0000 and e.tag != 0xFFFCFFFC}
    a, b = elements(stored), elements(original)
    assert set(a) == set(b), f"{where}: tags differ: {sorted(set(a) ^ set(b))[:10]}"
    for tag, elem in b.items():
        if elem.VR == "SQ":
            assert len(a[tag].value) == len(elem.value), f"{where}: {tag} item count differs"
            for left, right in zip(a[tag].value, elem.value):
                _assert_same_elements(left, right, f"{where} {tag}")
        else:
            assert a[tag].value == elem.value, f"{where}: {tag} differs"


def _strip_bulk(node):
    """Drops bulk data (BulkDataURI, or InlineBinary above the threshold) recursively."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if isinstance(value, dict) and "vr" in value:
                if "BulkDataURI" in value:
                    continue
                if "InlineBinary" in value and len(value["InlineBinary"]) * 3 // 4 > BULK_THRESHOLD:
                    continue
                if "Value" in value and value.get("vr") == "SQ":
                    value = dict(value, Value=[_strip_bulk(item) for item in value["Value"]])
                out[key] = value
            else:
                out[key] = value
        return out
    return node


def pydicom_json(ds, suppress_invalid_tags=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD,
                               bulk_data_element_handler=lambda elem: "bulk",
                               suppress_invalid_tags=suppress_invalid_tags)


def _bulk_keys(node, prefix=""):
    keys = set()
    for key, value in node.items():
        if isinstance(value, dict):
            if "BulkDataURI" in value or key in PIXEL_DATA_TAGS:  # Pixel Data is never inline
                keys.add(prefix + key)
            for i, item in enumerate(value.get("Value", []) if value.get("vr") == "SQ" else []):
                keys |= _bulk_keys(item, f"{prefix}{key}[{i}].")
    return keys


def _drop_keys(node, keys, prefix=""):
    out = {}
    for key, value in node.items():
        if prefix + key in keys:
            continue
        if isinstance(value, dict) and value.get("vr") == "SQ" and "Value" in value:
            value = dict(value, Value=[_drop_keys(item, keys, f"{prefix}{key}[{i}].")
                                       for i, item in enumerate(value["Value"])])
        out[key] = value
    return out


def check_metadata(stored_json_bytes, ds, unconvertible=()):
    """Bulk data (above the threshold) may be omitted entirely or listed with its VR only.

    unconvertible: top-level keys whose value cannot be converted to its VR. pydicom cannot write such a
    data set as JSON at all; we write those elements with their vr and no Value (PS3.18 F.2.5), and the
    rest must equal what pydicom writes when it leaves them out."""
    theirs_full = pydicom_json(ds, suppress_invalid_tags=bool(unconvertible))
    bulk = _bulk_keys(theirs_full)
    ours = _strip_bulk(_drop_keys(json.loads(stored_json_bytes), bulk))
    for key in unconvertible:
        assert key not in theirs_full, f"{key} is convertible after all"
        assert set(ours.pop(key, {})) == {"vr"}, f"{key} should be present without Value"
    theirs = _strip_bulk(_drop_keys(theirs_full, bulk))
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    assert not missing and not extra, f"JSON keys differ: missing {missing[:10]}, extra {extra[:10]}"
    different = [k for k in theirs if theirs[k] != ours[k]]
    assert not different, "JSON differs from pydicom at " + ", ".join(
        f"{k}: ours={ours[k]!r} pydicom={theirs[k]!r}" for k in different[:5])
