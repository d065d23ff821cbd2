"""What the event tests share: a local webhook receiver (a real HTTP server on a loopback port), the HMAC
check of its requests, and a pynetdicom sender of small CT instances."""
import hashlib
import hmac
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE

from conftest import Service, service_env

CT = "1.2.840.10008.5.1.4.1.1.2"
SECRET = "e2e-webhook-secret-" + uuid.uuid4().hex
FAST = dict(DICOM_INGEST_EVENTS_POLL_MS="200", DICOM_INGEST_EVENTS_RETRY_BASE_MS="200",
            DICOM_INGEST_EVENTS_RETRY_MAX_MS="1000")


def new_uid():
    return "2.25." + str(uuid.uuid4().int)


class Receiver:
    """A webhook receiver on a free loopback port. While `accepting` is False it answers 503 (and still
    records the attempt), as a receiver that is down behind its load balancer does.

    `hold_next()` makes it keep the next request open without answering (a receiver mid-request) until
    `release` is set; that request is recorded in `held`, not in `attempts`. `identify`, when set, maps the
    sender's TCP port to who sent it (a process id) while the connection is open; the answer is recorded in
    `receipts` as (status, event id, identity)."""

    def __init__(self):
        self.accepting = True
        self.attempts = []   # (status answered, headers, body bytes)
        self.receipts = []   # (status answered, X-Dicom-Ingest-Event-Id, identify(client port))
        self.held = []       # (X-Dicom-Ingest-Event-Id, identify(client port))
        self.identify = None
        self.release = threading.Event()
        self._hold = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event_id = self.headers.get("X-Dicom-Ingest-Event-Id")
                who = receiver.identify(self.client_address[1]) if receiver.identify else None
                with receiver.lock:
                    hold, receiver._hold = receiver._hold, False
                    if hold:
                        receiver.held.append((event_id, who))
                if hold:
                    receiver.release.wait(timeout=300)
                    try:
                        self.send_response(200)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    except OSError:
                        pass  # the sender died while its request was held
                    return
                status = 200 if receiver.accepting else 503
                with receiver.lock:
                    receiver.attempts.append((status, {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.receipts.append((status, event_id, who))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hold_next(self):
        with self.lock:
            self._hold = True

    def accepted(self):
        with self.lock:
            return [(h, json.loads(b)) for s, h, b in self.attempts if s == 200]

    def refused(self):
        with self.lock:
            return [(h, json.loads(b)) for s, h, b in self.attempts if s != 200]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def valid_signature(headers, body_bytes):
    timestamp = headers["x-dicom-ingest-timestamp"]
    expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body_bytes, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-dicom-ingest-signature"])


def instance(study, series, series_number, instance_number, patient="EVENTS1"):
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = new_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = patient
    ds.AccessionNumber = "ACC" + study[-6:]
    ds.Modality = "CT"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def send(port, datasets, calling="EVENTSCU"):
    ae = AE(ae_title=calling)
    ae.add_requested_context(CT, ImplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
    assert assoc.is_established
    try:
        statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()
    assert statuses == [0] * len(datasets)


def start(binary, s3_settings, database_url, tmp_path, data_dir=None, name="service", **extra):
    data_dir = data_dir or str(tmp_path / "data")
    env = service_env(s3_settings, database_url, data_dir, **{**FAST, **extra})
    return Service(binary, env, str(tmp_path), str(tmp_path / f"{name}.log")).start()


def socket_owner(client_port, pids):
    """Which of `pids` holds the open TCP socket whose local port is `client_port` (Linux /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == client_port and fields[9] != "0":
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:
                continue
    return None
