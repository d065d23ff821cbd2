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


def read_object(s3, bucket, key):
    obj = s3.get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    encoding = obj.get("ContentEncoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    return body, obj.get("ContentType"), encoding


def check_part10(stored, sent_path, calling_ae, called_ae):
    """Returns the pydicom dataset of the stored object after checking it against the sent file."""
    header, dataset = corpus.split_part10(stored)
    sent = corpus.dataset_bytes(sent_path)
    assert dataset == sent, f"data set bytes differ for {sent_path} ({len(dataset)} vs {len(sent)} bytes)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(stored))
        original = pydicom.dcmread(sent_path, stop_before_pixels=True)
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


def pydicom_json(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD,
                               bulk_data_element_handler=lambda elem: "bulk")


def check_metadata(stored_json_bytes, ds):
    ours = _strip_bulk(json.loads(stored_json_bytes))
    theirs = _strip_bulk(pydicom_json(ds))
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    assert not missing and not extra, f"JSON keys differ: missing {missing[:10]}, extra {extra[:10]}"
    different = [k for k in theirs if theirs[k] != ours[k]]
    assert not different, "JSON differs from pydicom at " + ", ".join(
        f"{k}: ours={ours[k]!r} pydicom={theirs[k]!r}" for k in different[:5])
