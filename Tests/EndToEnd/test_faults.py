"""Fault tests: the object store going away, a client aborting mid-instance, SIGTERM during a
large transfer. The invariant everywhere: a success status means stored byte-identical with a row;
a failure leaves no row and no multipart upload behind."""
import hashlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
import warnings

import boto3
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.association import Association

# pynetdicom 3.0's requestor can drop a C-STORE-RSP that arrives while its reactor thread is between
# pausing and paused (see Tests/ListenerTests/Scripts/scu.py for the whole story); fast failure answers,
# which this file provokes, make it likely under load. Such a response goes back on the DIMSE queue for
# the thread waiting in send_c_store().
_original_serve_request = Association._serve_request


def _keep_responses(self, msg, context_id):
    if not msg.is_valid_request and getattr(msg, "is_valid_response", False):
        self.dimse.msg_queue.put((context_id, msg))
        return
    _original_serve_request(self, msg, context_id)


Association._serve_request = _keep_responses

import checks
import corpus
import rawscu
from conftest import READ_TOKEN, Service, free_port, service_env, wait_for

HERE = os.path.dirname(__file__)


class Moto:
    """A private moto_server (auth off) that the test can stop and start again."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp)
        wait_for(self._up, timeout=30, what="moto_server")
        return self

    def _up(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")


def send_files(port, paths, calling="FAULTSCU"):
    ae = AE(ae_title=calling)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
    assert assoc.is_established
    statuses = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses.append(status.Status if status else None)
    finally:
        assoc.release()
    return statuses


def small_files(corpus_dir, n=5):
    names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "chrFren.dcm", "test-SR.dcm"]
    return [os.path.join(corpus_dir, name) for name in names[:n]]


def sop(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


def test_object_store_down_then_back(service, corpus_dir, tmp_path):
    moto = Moto(str(tmp_path)).start()
    listener = None
    try:
        bucket = "fault-" + uuid.uuid4().hex[:12]
        moto.client().create_bucket(Bucket=bucket)
        port = free_port()
        listener = service.create_listener(name="fault-" + uuid.uuid4().hex[:8], port=port, bindAddress="127.0.0.1",
                                           storage={"backend": "s3", "bucket": bucket, "endpoint": moto.endpoint,
                                                    "gzip": False})
        files = small_files(corpus_dir)
        assert send_files(port, files[:1]) == [0]

        moto.stop()
        statuses = send_files(port, files[1:3])
        assert all(s is not None and (s & 0xF000) == 0xA000 for s in statuses), [hex(s or 0) for s in statuses]
        for path in files[1:3]:
            status, _, _ = service.request("GET", f"/v1/instances/{sop(path)}", token=READ_TOKEN)
            assert status == 404, "a failed instance has a catalog row"
        status, _, _ = service.request("GET", "/healthz", token=None)
        assert status == 200

        moto.start()
        moto.client().create_bucket(Bucket=bucket)
        # The store is back when /readyz says so (it asks every object store in use, through the same
        # client as the instances); a sender retrying its A700s meanwhile loses nothing.
        wait_for(lambda: service.request("GET", "/readyz", token=None)[0] == 200, timeout=90,
                 what="/readyz 200 after the object store returned")
        assert send_files(port, files[1:]) == [0] * len(files[1:])
        for path in files[1:]:
            stored = moto.client().get_object(Bucket=bucket, Key=f"DICOM/{sop(path)}.dcm")["Body"].read()
            checks.check_part10(stored, path, calling_ae="FAULTSCU", called_ae="STORESCP")
    finally:
        # Deleted whatever happened: a listener left on the shared service with its store stopped would
        # keep /readyz at 503 for every later test.
        if listener is not None:
            service.request("DELETE", f"/v1/listeners/{listener['id']}", expect=204)
        moto.stop()


def test_client_abort_mid_instance(service, bucket, s3, corpus_dir, tmp_path):
    path = corpus.build_multiframe(str(tmp_path), frames=40, name="abort.dcm")  # ~20 MiB, multipart
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    port = free_port()
    service.create_listener(name="abort-" + uuid.uuid4().hex[:8], port=port, bindAddress="127.0.0.1",
                            storage={"backend": "s3", "bucket": bucket, "gzip": False})
    sock, _ = rawscu.associate(port, ds.SOPClassUID, ds.file_meta.TransferSyntaxUID, calling="ABORTSCU")
    sock.sendall(rawscu.pdata(1, 0x03, rawscu.c_store_command(ds.SOPClassUID, ds.SOPInstanceUID)))
    data = corpus.dataset_bytes(path)
    sent = 0
    chunk = 16000
    while sent < len(data) // 2:
        sock.sendall(rawscu.pdata(1, 0x00, data[sent:sent + chunk]))
        sent += chunk
    sock.sendall(bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0]))  # A-ABORT, source 0 (service user)
    sock.close()

    def settled():
        status, _, _ = service.request("GET", f"/v1/instances/{ds.SOPInstanceUID}", token=READ_TOKEN)
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return status == 404 and not uploads
    wait_for(settled, timeout=30, what="no row and no multipart upload after abort")
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert not objects, f"objects left behind: {[o['Key'] for o in objects]}"


def test_sigterm_during_large_transfer(binary, s3_settings, fresh_database_url, bucket, s3, tmp_path):
    database_url = fresh_database_url
    data_dir = str(tmp_path / "svc")
    os.makedirs(data_dir)
    port = free_port()
    env = service_env(s3_settings, database_url, data_dir, DICOM_INGEST_SHUTDOWN_GRACE_SECONDS="30")
    svc = Service(binary, env, data_dir, os.path.join(data_dir, "service.log")).start()
    svc.create_listener(name="sigterm-" + uuid.uuid4().hex[:8], port=port, bindAddress="127.0.0.1",
                        storage={"backend": "s3", "bucket": bucket, "gzip": False, "createMetadata": False})
    big = corpus.build_multiframe(str(tmp_path), frames=120, name="sigterm_big.dcm")
    results = {}

    def sender():
        try:
            results["statuses"] = send_files(port, [big])
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            results["error"] = exc

    thread = threading.Thread(target=sender)
    thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    code = svc.stop(signal.SIGTERM, timeout=60)
    elapsed = time.monotonic() - started
    thread.join(timeout=60)
    assert code == 0, f"exit code {code}; log:\n{svc.log_text()}"
    assert elapsed < 45, f"shutdown took {elapsed:.1f}s, grace period is 30s"

    statuses = results.get("statuses") or []
    uid = sop(big)
    if statuses and statuses[0] == 0:
        stored = s3.get_object(Bucket=bucket, Key=f"DICOM/{uid}.dcm")["Body"].read()
        header, dataset = corpus.split_part10(stored)
        assert hashlib.sha256(dataset).digest() == hashlib.sha256(corpus.dataset_bytes(big)).digest()
        import psycopg
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT count(*) FROM instances WHERE sop_instance_uid=%s", (uid,)).fetchone()[0] == 1
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "multipart upload left behind"
