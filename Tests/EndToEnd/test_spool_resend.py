"""A re-send of an instance that is already `stored` in S3, received by a `spooled` listener: the re-send is
written to the other key slot in the spool, and once it is forwarded S3 holds exactly one object (and one
JSON) for the instance, with the bytes the row's sha256 names — the newest — and no stale copy under the
other slot. Checked with boto3 across three receives (primary slot, alternate, primary again) and across a
listener switched from `stored` to `spooled`."""
import hashlib
import warnings

import pydicom

import checks
from test_spool import own_service, pynetdicom_send, explicit_files, spooled_listener, wait_all_stored
from conftest import READ_TOKEN, free_port, wait_for


def variant(path, out_dir, patient_id):
    """The same SOP Instance UID with another Patient ID: a modified re-send."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
    ds.PatientID = patient_id
    out = str(out_dir / f"{patient_id}.dcm")
    ds.save_as(out)
    return out, str(ds.SOPInstanceUID)


def keys_of(s3, bucket, uid):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", []) if uid in o["Key"]]
    return sorted(keys)


def wait_stored_with(svc, uid, sha256):
    def done():
        status, row, _ = svc.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
        return status == 200 and row["storageState"] == "stored" and row["sha256"] == sha256 and row
    return wait_for(done, timeout=120, interval=0.3, what=f"row of {uid} stored with the newest sha256")


def check_only_newest(s3, bucket, row, patient_id):
    """Exactly the row's Part10 object and JSON exist for the instance, and they are the newest receive."""
    uid = row["sopInstanceUID"]
    object_key = row["objectUri"].split("/", 3)[3]
    meta_key = row["metadataUri"].split("/", 3)[3]
    assert keys_of(s3, bucket, uid) == sorted([object_key, meta_key]), (keys_of(s3, bucket, uid), row)
    body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == row["sha256"]
    assert patient_id.encode() in body
    meta = s3.get_object(Bucket=bucket, Key=meta_key)["Body"].read()
    assert patient_id.encode() in meta


def send_and_land(svc, port, path, uid, s3, bucket, patient_id, previous_sha=None):
    assert [s for s, _ in pynetdicom_send(port, [path])] == [0]

    def newest():
        status, row, _ = svc.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
        return status == 200 and row["sha256"] != previous_sha and row
    row = wait_for(newest, timeout=30, interval=0.2, what="row of the re-send")
    row = wait_stored_with(svc, uid, row["sha256"])
    check_only_newest(s3, bucket, row, patient_id)
    return row


def test_resend_to_a_spooled_listener_leaves_only_the_newest_object(binary, s3_settings, fresh_database_url, bucket, s3,
                                                                    corpus_dir, tmp_path):
    svc, _ = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener, port = spooled_listener(svc, bucket, gzip=False)
        source = explicit_files(corpus_dir)[0]
        first, uid = variant(source, tmp_path, "RESEND-1")
        second, _ = variant(source, tmp_path, "RESEND-2")
        third, _ = variant(source, tmp_path, "RESEND-3")

        row1 = send_and_land(svc, port, first, uid, s3, bucket, "RESEND-1")
        row2 = send_and_land(svc, port, second, uid, s3, bucket, "RESEND-2", previous_sha=row1["sha256"])
        assert row2["objectUri"] != row1["objectUri"]  # the other slot
        row3 = send_and_land(svc, port, third, uid, s3, bucket, "RESEND-3", previous_sha=row2["sha256"])
        assert row3["objectUri"] == row1["objectUri"]
        assert row3["receiveCount"] == 3
    finally:
        assert svc.stop() == 0, svc.log_text()


def test_resend_after_switching_a_stored_listener_to_spooled(binary, s3_settings, fresh_database_url, bucket, s3,
                                                             corpus_dir, tmp_path):
    svc, _ = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        port = free_port()
        listener = svc.create_listener(name="resend-switch", port=port, bindAddress="127.0.0.1",
                                       storage={"backend": "s3", "bucket": bucket, "gzip": True, "ackMode": "stored"})
        source = explicit_files(corpus_dir)[1]
        first, uid = variant(source, tmp_path, "SWITCH-1")
        second, _ = variant(source, tmp_path, "SWITCH-2")
        assert [s for s, _ in pynetdicom_send(port, [first])] == [0]
        status, row1, _ = svc.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN, expect=200)
        assert row1["storageState"] == "stored"

        status, body, _ = svc.request("PATCH", f"/v1/listeners/{listener['id']}", {"storage": {"ackMode": "spooled"}},
                                      expect=200)
        assert body["storage"]["ackMode"] == "spooled"
        wait_for(lambda: svc.request("GET", f"/v1/listeners/{listener['id']}")[1]["state"] == "running", timeout=10,
                 what="listener running again")
        assert [s for s, _ in pynetdicom_send(port, [second])] == [0]

        def spooled_or_newer():
            status, row, _ = svc.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
            return status == 200 and row["sha256"] != row1["sha256"] and row
        row2 = wait_for(spooled_or_newer, timeout=30, interval=0.2, what="row of the re-send")
        row2 = wait_stored_with(svc, uid, row2["sha256"])
        assert row2["objectUri"] != row1["objectUri"]
        object_key = row2["objectUri"].split("/", 3)[3]
        meta_key = row2["metadataUri"].split("/", 3)[3]
        assert keys_of(s3, bucket, uid) == sorted([object_key, meta_key])
        body, _, _ = checks.read_object(s3, bucket, object_key)
        assert hashlib.sha256(body).hexdigest() == row2["sha256"] and b"SWITCH-2" in body
    finally:
        assert svc.stop() == 0, svc.log_text()
