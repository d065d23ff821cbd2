"""Hostile and damaged data sets against the real dicom-ingest binary: deflate bombs, values that cannot
be converted to their VR, damage the codec cannot read past (pydicom's badVR.dcm), data sets that end
inside an element. Senders: the exact-bytes sender (rawscu), DCMTK storescu and pynetdicom; checkers:
boto3 for the objects, the REST API for the rows, pydicom for the JSON."""
import concurrent.futures
import json
import os
import struct
import subprocess
import uuid
import warnings
import zlib

import botocore.exceptions
import pydicom
import pytest
from pynetdicom import AE

import checks
import rawscu
from conftest import READ_TOKEN, free_port

SC = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
ROOT = "1.2.826.0.1.3680043.8.498.77."
PYDICOM_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")


def new_uid():
    return ROOT + str(uuid.uuid4().int)[:30]


def element(tag, vr, value):
    """One explicit VR little endian element (PS3.5 7.1.2)."""
    if isinstance(value, str):
        value = value.encode("ascii")
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def head(sop_instance, study=None, series=None):
    return (element(0x00080016, "UI", SC) + element(0x00080018, "UI", sop_instance)
            + element(0x00080060, "CS", "OT")
            + element(0x0020000D, "UI", study or new_uid()) + element(0x0020000E, "UI", series or new_uid()))


def send(port, sop_instance, data, ts=EXPLICIT_LE, sop_class=SC):
    """Sends `data` as the data set of one C-STORE on its own association; returns (status, comment)."""
    sock, peer_max = rawscu.associate(port, sop_class, ts)
    try:
        sock.sendall(rawscu.pdata(1, 0x03, rawscu.c_store_command(sop_class, sop_instance)))
        rawscu.send_dataset_bytes(sock, data, peer_max)
        status, comment = rawscu.read_response_status(sock)
    finally:
        rawscu.release(sock)
    return status, comment


def listener(service, bucket, **storage):
    body = {"name": "hostile-" + uuid.uuid4().hex[:10], "port": free_port(), "bindAddress": "127.0.0.1",
            "storage": dict({"backend": "s3", "bucket": bucket, "gzip": False}, **storage)}
    return service.create_listener(**body)


def stored_dataset(s3, bucket, uid):
    body, _, _ = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
    return checks.corpus.split_part10(body)[1]


def stored_json(s3, bucket, uid):
    body, _, _ = checks.read_object(s3, bucket, f"METADATA/{uid}.json")
    return json.loads(body)


def assert_nothing_stored(service, s3, bucket, uid):
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key=f"DICOM/{uid}.dcm")
    status, _, _ = service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
    assert status == 404


def is_cannot_understand(status):
    return 0xC000 <= status <= 0xCFFF


def counter(service, name, listener_name):
    """The value of a Prometheus counter for one listener from GET /metrics (0 when absent)."""
    _, text, _ = service.request("GET", "/metrics", token=None, expect=200)
    text = text.decode() if isinstance(text, bytes) else text
    for line in text.splitlines():
        if line.startswith(name + "{") and f'listener="{listener_name}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# ---- deflate bombs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb_body():
    """Pixel Data (OB) of 1 GiB of zeros after the head, deflated: about 1 MB that expands 1000:1."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    size = 1 << 30
    parts = [compressor.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, size))]
    for _ in range(size // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    return b"".join(parts)


def test_deflate_bombs_are_refused_while_another_association_is_served(service, bucket, s3, bomb_body):
    lst = listener(service, bucket)
    port = lst["port"]
    bombs = []
    for _ in range(3):
        uid = new_uid()
        # The head, then a full flush: byte-aligned, no final block and no reference back, so the shared
        # bomb body (a raw deflate stream of its own) continues the same stream.
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bombs.append((uid, compressor.compress(head(uid)) + compressor.flush(zlib.Z_FULL_FLUSH) + bomb_body))
    assert len(bomb_body) < (2 << 20), "the bomb should expand about 1000:1"

    normal_uid = new_uid()
    normal = head(normal_uid) + element(0x00100020, "LO", "NORMAL-1")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(send, port, uid, data, DEFLATED) for uid, data in bombs]
        normal_status = pool.submit(send, port, normal_uid, normal).result(timeout=120)
        results = [f.result(timeout=300) for f in futures]

    assert normal_status == (0, None), normal_status
    assert stored_dataset(s3, bucket, normal_uid) == normal
    for (uid, _), (status, comment) in zip(bombs, results):
        assert is_cannot_understand(status), f"bomb answered {status:#06x} {comment}"
        assert comment and "maxInflation" in comment, comment
        assert_nothing_stored(service, s3, bucket, uid)


def test_a_configured_inflation_bound_is_applied(service, bucket, s3):
    """limits.maxInflatedBytes set on the listener (and shown by the API) refuses a data set beyond it."""
    lst = service.create_listener(name="hostile-" + uuid.uuid4().hex[:10], port=free_port(), bindAddress="127.0.0.1",
                                  storage={"backend": "s3", "bucket": bucket},
                                  limits={"maxInflatedBytes": 1 << 20, "maxInflationRatio": 100000})
    assert lst["limits"]["maxInflatedBytes"] == 1 << 20 and lst["limits"]["maxInflationRatio"] == 100000
    uid = new_uid()
    body = head(uid) + element(0x7FE00010, "OB", bytes(2 << 20))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    status, comment = send(lst["port"], uid, compressor.compress(body) + compressor.flush(), DEFLATED)
    assert is_cannot_understand(status) and "maxInflatedBytes" in (comment or ""), (hex(status), comment)
    assert_nothing_stored(service, s3, bucket, uid)


# ---- values that cannot be converted to their VR --------------------------------------------------------

@pytest.mark.parametrize("create_metadata", [True, False])
def test_an_unconvertible_value_is_stored_with_a_warning(service, bucket, s3, create_metadata):
    lst = listener(service, bucket, createMetadata=create_metadata)
    uid = new_uid()
    data = head(uid) + element(0x00100020, "LO", "UNCONV-1") + element(0x00180050, "DS", "1,5")
    status, comment = send(lst["port"], uid, data)
    # Warning B007 (stored; the data set does not match its SOP Class), the offending tag named.
    assert status == 0xB007 and "00180050" in (comment or ""), (hex(status), comment)
    assert stored_dataset(s3, bucket, uid) == data
    _, instance, _ = service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN, expect=200)
    assert instance["sopInstanceUID"] == uid
    if create_metadata:
        metadata = stored_json(s3, bucket, uid)
        assert metadata["00180050"] == {"vr": "DS"}  # PS3.18 F.2.5: an element may have no Value
        assert metadata["00100020"] == {"vr": "LO", "Value": ["UNCONV-1"]}
    assert counter(service, "dicom_metadata_unconvertible_elements_total", lst["name"]) == 1


# ---- incomplete data sets -------------------------------------------------------------------------------

@pytest.mark.parametrize("cut", ["inside-value", "inside-header", "inside-sequence", "inside-deflate-stream"])
def test_an_incomplete_data_set_is_refused(service, bucket, s3, cut):
    lst = listener(service, bucket)
    uid = new_uid()
    full = head(uid) + element(0x00100010, "PN", "Incomplete^Data^Set")
    ts = EXPLICIT_LE
    if cut == "inside-value":
        data = full[:-5]
    elif cut == "inside-header":
        data = full + element(0x00100020, "LO", "X1")[:5]
    elif cut == "inside-sequence":
        # Undefined-length sequence with an open undefined-length item: the data set ends inside it.
        data = full + struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) \
            + element(0x00081150, "UI", SC)
    else:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = compressor.compress(full + element(0x7FE00010, "OB", os.urandom(64 << 10))) + compressor.flush()
        data, ts = deflated[: len(deflated) // 2], DEFLATED
    status, comment = send(lst["port"], uid, data, ts)
    assert is_cannot_understand(status) and comment and "Incomplete" in comment, (hex(status), comment)
    assert_nothing_stored(service, s3, bucket, uid)


# ---- damage the codec cannot read past ------------------------------------------------------------------

def test_damage_after_the_key_attributes_is_stored_as_sent(service, bucket, s3):
    lst = listener(service, bucket)
    uid = new_uid()
    before = head(uid) + element(0x00100020, "LO", "DAMAGED-1")
    # "ZZ" is letters but no VR of PS3.5: nothing after it can be read.
    data = before + element(0x00181030, "ZZ", "PROTOCOL") + element(0x00100010, "PN", "After^Damage")
    status, comment = send(lst["port"], uid, data)
    assert status == 0xB007 and "Unreadable from offset" in (comment or ""), (hex(status), comment)
    assert stored_dataset(s3, bucket, uid) == data
    metadata = stored_json(s3, bucket, uid)
    assert metadata["00100020"] == {"vr": "LO", "Value": ["DAMAGED-1"]}
    assert metadata["00181030"] == {"vr": "UN"}  # where reading stopped
    assert "00100010" not in metadata
    service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN, expect=200)
    assert counter(service, "dicom_metadata_unreadable_data_sets_total", lst["name"]) == 1


def test_damage_before_the_study_uid_is_refused_naming_why(service, bucket, s3):
    lst = listener(service, bucket)
    uid = new_uid()
    data = element(0x00080016, "UI", SC) + element(0x00080018, "UI", uid) + element(0x00100020, "ZZ", "X1") \
        + element(0x0020000D, "UI", new_uid()) + element(0x0020000E, "UI", new_uid())
    status, comment = send(lst["port"], uid, data)
    assert is_cannot_understand(status) and "unreadable" in (comment or ""), (hex(status), comment)
    assert_nothing_stored(service, s3, bucket, uid)


def _bad_vr_copy(tmp_path):
    """pydicom's badVR.dcm with a fresh SOP Instance UID (its (0028,0008) IS "1A" cannot be converted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(os.path.join(PYDICOM_FILES, "badVR.dcm"))
        uid = new_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        path = str(tmp_path / "badVR.dcm")
        ds.save_as(path, enforce_file_format=True)
    return path, uid, ds


def _check_bad_vr_stored(service, s3, bucket, uid, path, calling_ae, exact):
    body, _, _ = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
    checks.check_part10(body, path, calling_ae=calling_ae, called_ae="STORESCP", exact=exact)
    metadata = stored_json(s3, bucket, uid)
    assert metadata["00280008"] == {"vr": "IS"}
    assert metadata["00080060"] == {"vr": "CS", "Value": ["RTDOSE"]}
    service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN, expect=200)


@pytest.mark.parametrize("sender", ["rawscu", "storescu", "pynetdicom"])
def test_pydicom_bad_vr_file_is_stored_as_sent(service, bucket, s3, tmp_path, sender):
    lst = listener(service, bucket)
    path, uid, ds = _bad_vr_copy(tmp_path)
    if sender == "rawscu":
        status, comment = rawscu.store_exact(lst["port"], path)
        assert status == 0xB007, (hex(status), comment)
    elif sender == "storescu":
        result = subprocess.run(["/usr/bin/storescu", "-xe", "-aet", "E2ESCU", "-aec", "STORESCP", "127.0.0.1",
                                 str(lst["port"]), path], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "Store Failed" not in result.stderr, result.stderr
    else:
        ae = AE(ae_title="PYNETDICOM")
        ae.add_requested_context(ds.SOPClassUID, [EXPLICIT_LE])
        assoc = ae.associate("127.0.0.1", lst["port"], ae_title="STORESCP")
        assert assoc.is_established
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                status = assoc.send_c_store(pydicom.dcmread(path))
        finally:
            assoc.release()
        assert status.Status == 0xB007, status
    calling = {"rawscu": "RAWSCU", "storescu": "E2ESCU", "pynetdicom": "PYNETDICOM"}[sender]
    _check_bad_vr_stored(service, s3, bucket, uid, path, calling, exact=sender == "rawscu")
