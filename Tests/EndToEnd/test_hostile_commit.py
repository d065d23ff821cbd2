"""Hostile peers against the commit, the catalog and admission, black box: the built binary with its
PostgreSQL catalog and moto S3, driven by raw PDUs (rawscu) so a test can send what no toolkit would.

- a DIMSE command whose Affected SOP Class is not its presentation context's abstract syntax: 0122;
- a UID re-sent on another listener: 0111, the owner's row and object untouched;
- a re-send switches the row to the other key slot and removes the previous object (S3);
- values PostgreSQL cannot hold (NUL, over-long indexed text) are normalised, not answered A700 forever;
- before the A-ASSOCIATE-AC only association PDUs of at most 64 KiB; unassociated connections capped;
  refused connects coalesced into a bounded number of catalog rows.
"""
import hashlib
import os
import socket
import struct
import time
import urllib.parse
import uuid

import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

import rawscu
from conftest import free_port, wait_for

CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


def s3_listener(service, bucket, **fields):
    body = {"name": "hostile-" + uuid.uuid4().hex[:10], "port": free_port(), "bindAddress": "127.0.0.1",
            "storage": {"backend": "s3", "bucket": bucket, "gzip": False}}
    body.update(fields)
    return service.create_listener(**body)


def new_uid():
    return "2.25." + str(uuid.uuid4().int)


def dataset_bytes(sop_instance, sop_class=CT, patient_id="HOSTILE1", study=None, series=None):
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study or new_uid()
    ds.SeriesInstanceUID = series or new_uid()
    ds.Modality = "CT"
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = True
    write_dataset(buf, ds)
    return buf.getvalue()


def echo_command(message_id=1, sop_class=VERIFICATION):
    from pynetdicom.dimse_messages import C_ECHO_RQ
    from pynetdicom.dimse_primitives import C_ECHO

    primitive = C_ECHO()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = sop_class
    msg = C_ECHO_RQ()
    msg.primitive_to_message(primitive)
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = True
    write_dataset(buf, msg.command_set)
    return buf.getvalue()


def store_raw(port, sop_instance, data, sop_class=CT, context_class=None):
    """Associates for `context_class` (default: `sop_class`), sends one C-STORE; returns (status, comment)."""
    sock, peer_max = rawscu.associate(port, context_class or sop_class, IMPLICIT_LE)
    try:
        sock.sendall(rawscu.pdata(1, 0x03, rawscu.c_store_command(sop_class, sop_instance)))
        rawscu.send_dataset_bytes(sock, data, peer_max)
        return rawscu.read_response_status(sock)
    finally:
        rawscu.release(sock)


def echo_raw(port, context_class=VERIFICATION, sop_class=VERIFICATION):
    sock, _ = rawscu.associate(port, context_class, IMPLICIT_LE)
    try:
        sock.sendall(rawscu.pdata(1, 0x03, echo_command(sop_class=sop_class)))
        return rawscu.read_response_status(sock)
    finally:
        rawscu.release(sock)


def instance_row(service, uid):
    status, body, _ = service.request("GET", f"/v1/instances/{uid}")
    return body if status == 200 else None


def study_of(service, uid):
    study = instance_row(service, uid)["studyInstanceUID"]
    return service.request("GET", f"/v1/studies/{study}", expect=200)[1]


def s3_key(uri):
    assert uri.startswith("s3://"), uri
    return uri[len("s3://"):].split("/", 1)


# -- The presentation context decides what a command may do (PS3.7 §9.1, status 0122) -------------

def test_c_store_on_the_verification_context_is_refused(service, bucket):
    listener = s3_listener(service, bucket)
    uid = new_uid()
    status, comment = store_raw(listener["port"], uid, dataset_bytes(uid), context_class=VERIFICATION)
    assert status == 0x0122, (hex(status), comment)
    assert comment
    assert instance_row(service, uid) is None


def test_c_store_whose_sop_class_is_verification_is_refused(service, bucket):
    listener = s3_listener(service, bucket)
    uid = new_uid()
    status, comment = store_raw(listener["port"], uid, dataset_bytes(uid, sop_class=VERIFICATION),
                                sop_class=VERIFICATION)
    assert status == 0x0122, (hex(status), comment)
    assert instance_row(service, uid) is None


def test_c_echo_on_a_storage_context_is_refused(service, bucket):
    listener = s3_listener(service, bucket)
    status, comment = echo_raw(listener["port"], context_class=CT)
    assert status == 0x0122, (hex(status), comment)
    # ...and still answered on the Verification context.
    assert echo_raw(listener["port"])[0] == 0x0000


# -- Duplicate policy per listener -------------------------------------------------------------------

def test_a_uid_of_another_listener_is_refused_with_duplicate_sop_instance(service, bucket, s3):
    owner = s3_listener(service, bucket)
    intruder = s3_listener(service, bucket)
    uid = new_uid()
    assert store_raw(owner["port"], uid, dataset_bytes(uid, patient_id="OWNER"))[0] == 0x0000
    before = instance_row(service, uid)
    status, comment = store_raw(intruder["port"], uid, dataset_bytes(uid, patient_id="INTRUDER"))
    assert status == 0x0111, (hex(status), comment)
    assert comment == "SOP Instance UID held by another listener"
    after = instance_row(service, uid)
    assert after == before and after["listenerId"] == owner["id"]
    b, key = s3_key(after["objectUri"])
    body = s3.get_object(Bucket=b, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == after["sha256"]
    assert b"OWNER" in body


# -- A re-send switches slots; the row always names the object it describes -------------------------

def test_resend_switches_the_row_to_the_other_slot_and_removes_the_previous_object(service, bucket, s3):
    listener = s3_listener(service, bucket)
    uid = new_uid()
    study, series = new_uid(), new_uid()
    assert store_raw(listener["port"], uid, dataset_bytes(uid, patient_id="FIRST", study=study, series=series))[0] == 0x0000
    first = instance_row(service, uid)
    assert store_raw(listener["port"], uid, dataset_bytes(uid, patient_id="SECOND", study=study, series=series))[0] == 0x0000
    second = instance_row(service, uid)
    assert second["receiveCount"] == 2
    assert second["objectUri"] != first["objectUri"] and second["objectUri"].endswith("~1.dcm")
    b, key = s3_key(second["objectUri"])
    body = s3.get_object(Bucket=b, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == second["sha256"] and b"SECOND" in body
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []) if uid in o["Key"])
    assert keys == sorted([key, s3_key(second["metadataUri"])[1]]), keys


def test_a_failed_resend_leaves_the_previous_object_json_and_row(service):
    """Filesystem target, fault injected from outside: the alternate JSON key is taken by a folder, so the
    re-send's metadata write fails after its Part10 object completed."""
    listener = service.create_listener(name="hostile-" + uuid.uuid4().hex[:10], port=free_port(), bindAddress="127.0.0.1",
                                       storage={"backend": "filesystem", "gzip": False})
    uid = new_uid()
    study, series = new_uid(), new_uid()
    assert store_raw(listener["port"], uid, dataset_bytes(uid, patient_id="FIRST", study=study, series=series))[0] == 0
    before = instance_row(service, uid)
    part10 = urllib.parse.unquote(before["objectUri"][len("file://"):])
    metadata = urllib.parse.unquote(before["metadataUri"][len("file://"):])
    os.makedirs(os.path.join(metadata[:-len(".json")] + "~1.json", "blocker"))

    status, comment = store_raw(listener["port"], uid, dataset_bytes(uid, patient_id="SECOND", study=study, series=series))
    assert status == 0xA700, (hex(status), comment)
    after = instance_row(service, uid)
    assert after == before
    with open(part10, "rb") as f:
        body = f.read()
    assert hashlib.sha256(body).hexdigest() == after["sha256"] and b"FIRST" in body
    with open(metadata, "rb") as f:
        assert b'"FIRST"' in f.read()
    assert not os.path.exists(part10[:-len(".dcm")] + "~1.dcm"), "the failed re-send left its Part10 object"


# -- Poison pills: what PostgreSQL cannot hold is normalised -----------------------------------------

def test_nul_and_over_long_values_are_stored_not_refused_forever(service, bucket):
    listener = s3_listener(service, bucket)
    uid = new_uid()
    status, comment = store_raw(listener["port"], uid, dataset_bytes(uid, patient_id="AB\x00CD"))
    assert status == 0x0000, (hex(status), comment)
    assert study_of(service, uid)["patientId"] == "ABCD"
    # An indexed value far above PostgreSQL's B-tree entry limit (~2.7 kB), incompressible.
    import random
    long_id = "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(12000))
    uid2 = new_uid()
    status, comment = store_raw(listener["port"], uid2, dataset_bytes(uid2, patient_id=long_id))
    assert status == 0x0000, (hex(status), comment)
    assert study_of(service, uid2)["patientId"] == long_id[:64]


# -- Admission before the association ------------------------------------------------------------------

def test_p_data_before_the_association_is_aborted_at_once(service, bucket):
    listener = s3_listener(service, bucket)
    with socket.create_connection(("127.0.0.1", listener["port"]), timeout=10) as sock:
        # A P-DATA-TF announcing 16 MiB: nothing of it may be buffered before an A-ASSOCIATE-AC.
        sock.sendall(struct.pack(">BBI", 0x04, 0, 16 * 1024 * 1024) + b"\0" * 4096)
        pdu_type, body = rawscu.read_pdu(sock)
    assert (pdu_type, body) == (0x07, bytes([0, 0, 2, 2])), (pdu_type, body)  # A-ABORT, provider, unexpected PDU
    assert echo_raw(listener["port"])[0] == 0x0000


def test_a_connect_flood_from_outside_allowed_peers_is_one_row(service, bucket):
    listener = s3_listener(service, bucket, allowedPeers=["10.0.0.0/8"])
    for _ in range(40):
        with socket.create_connection(("127.0.0.1", listener["port"]), timeout=10) as sock:
            assert sock.recv(16) == b""  # closed before any PDU
    time.sleep(1.2)  # past the one-second flush interval of the coalesced count
    with socket.create_connection(("127.0.0.1", listener["port"]), timeout=10) as sock:
        assert sock.recv(16) == b""

    def rows():
        page = service.request("GET", f"/v1/associations?listenerId={listener['id']}", expect=200)[1]
        items = page["items"]
        return items if items and sum(r["attempts"] for r in items) == 41 else None

    items = wait_for(rows, timeout=20, what="41 refused attempts counted")
    assert len(items) == 1, items
    assert items[0]["outcome"] == "rejected" and items[0]["rejectReason"] == "peer-not-allowed"
