"""Spooled acknowledgement end to end: a `spooled` listener answers once the instance is durable in the
local spool and its row is committed, and the forwarder writes it to S3 afterwards. The invariant: every
instance the sender saw succeed ends in S3 with the bytes its row's sha256 describes, one row each, row
`stored`, no spool file and no multipart upload left — across S3 outages, a full spool, SIGKILL, and a
node dying while another shares its catalog and spool.

S3 outages are made with a TCP proxy in front of the suite's moto_server (SigV4 on): closing the proxy
makes S3 unreachable without losing what moto already holds. A hung S3 (connections accepted, never
answered) is moto itself stopped with SIGSTOP and continued with SIGCONT."""
import gzip
import hashlib
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
import warnings

import psycopg
import pydicom
from pynetdicom import AE

import checks
import corpus
from conftest import READ_TOKEN, Service, free_port, require_env, service_env, wait_for

STORESCU = "/usr/bin/storescu"


class S3Proxy:
    """A loopback TCP proxy to moto that can be cut (listener closed, live connections reset) and restored
    on the same port."""

    def __init__(self, upstream):
        parsed = urllib.parse.urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.connections = []
        self.lock = threading.Lock()
        self.thread = None
        # Seconds to hold each chunk sent towards S3 (a slow link), 0 for none.
        self.delay = 0.0

    def start(self):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(128)
        self.server = server
        self.thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self.thread.start()
        return self

    def _accept(self, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        sockets = [a, b]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 1.0)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is a and self.delay:
                        time.sleep(self.delay)
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in sockets:
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        """S3 unreachable: new connections refused, open ones reset."""
        if self.server:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves the port listening.
            try:
                self.server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.server.close()
            self.server = None
        if self.thread:
            self.thread.join(timeout=5)
            self.thread = None
        with self.lock:
            for s in self.connections:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                except OSError:
                    pass
            self.connections = []

    def stop(self):
        self.cut()


def sop(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


def explicit_files(corpus_dir):
    """Corpus files storescu sends with one proposal (-xe: explicit VR little endian)."""
    out = []
    for name in sorted(os.listdir(corpus_dir)):
        if not name.endswith(".dcm"):
            continue
        path = os.path.join(corpus_dir, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        if str(ds.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.1" and name not in corpus.SKIP \
                and name not in corpus.STORED_WITH_WARNING and "StudyInstanceUID" in ds and "SeriesInstanceUID" in ds:
            out.append(path)
    return out


def storescu(port, paths, calling="SPOOLSCU"):
    result = subprocess.run([STORESCU, "-R", "-nh", "-xe", "-aet", calling, "-aec", "STORESCP", "127.0.0.1", str(port),
                             *paths], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "Store Failed" not in result.stderr \
        and "Store SCU Failed" not in result.stderr, f"storescu: {result.stderr[-4000:]}"


def pynetdicom_send(port, paths, calling="SPOOLSCU"):
    """Returns (status, error comment) per file, in order."""
    ae = AE(ae_title=calling)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
    assert assoc.is_established
    out = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            out.append((status.Status if status else None, str(status.get("ErrorComment", "")) if status else ""))
    finally:
        assoc.release()
    return out


def spooled_listener(svc, bucket, endpoint=None, **storage):
    port = free_port()
    target = {"backend": "s3", "bucket": bucket, "ackMode": "spooled"}
    if endpoint:
        target["endpoint"] = endpoint
    target.update(storage)
    listener = svc.create_listener(name="spool-" + uuid.uuid4().hex[:8], port=port, bindAddress="127.0.0.1",
                                   storage=target)
    assert listener["storage"]["ackMode"] == "spooled"
    return listener, port


def instance(svc, uid):
    status, body, _ = svc.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
    return body if status == 200 else None


def wait_all_stored(svc, uids, timeout=120):
    def done():
        rows = [instance(svc, uid) for uid in uids]
        return all(r is not None and r["storageState"] == "stored" for r in rows) and rows
    return wait_for(done, timeout=timeout, interval=0.5, what="every instance stored")


def spool_files(spool_dir):
    out = []
    for folder, _, names in os.walk(spool_dir):
        for name in names:
            if name != ".spool-id":
                out.append(os.path.join(folder, name))
    return out


def check_landed(s3, bucket, rows, paths_by_uid, calling="SPOOLSCU"):
    """Every row's object is in S3 with exactly the bytes its sha256 names, and equal to the sent file."""
    for row in rows:
        key = row["objectUri"].split("/", 3)[3]
        body, content_type, _ = checks.read_object(s3, bucket, key)
        assert content_type == "application/dicom"
        assert hashlib.sha256(body).hexdigest() == row["sha256"], f"{key}: S3 bytes differ from the row's sha256"
        assert len(body) == row["sizeBytes"]
        assert row["storedAt"] is not None
        checks.check_part10(body, paths_by_uid[row["sopInstanceUID"]], calling_ae=calling, called_ae="STORESCP")
        if row["metadataUri"]:
            meta_key = row["metadataUri"].split("/", 3)[3]
            checks.read_object(s3, bucket, meta_key)


def check_landed_once(s3, bucket, database_url, rows, paths_by_uid):
    """`check_landed`, and one catalog row per instance and no multipart upload left (an interrupted
    attempt's upload is aborted when the instance is forwarded again)."""
    check_landed(s3, bucket, rows, paths_by_uid)
    with psycopg.connect(database_url) as conn:
        for uid in paths_by_uid:
            assert conn.execute("SELECT count(*) FROM instances WHERE sop_instance_uid = %s", (uid,)).fetchone()[0] == 1
    wait_for(lambda: not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), timeout=60,
             what="no multipart upload left")


def own_service(binary, s3_settings, database_url, tmp_path, name="svc", **extra):
    data_dir = str(tmp_path / name)
    os.makedirs(data_dir, exist_ok=True)
    env = service_env(s3_settings, database_url, data_dir, **extra)
    return Service(binary, env, data_dir, os.path.join(data_dir, "service.log")).start(), data_dir


def metrics_text(svc):
    status, body, _ = svc.request("GET", "/metrics", token=READ_TOKEN)
    return body.decode() if isinstance(body, bytes) else str(body)


def metric(svc, name):
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", metrics_text(svc), re.M)
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------------

def test_spooled_listener_lands_every_instance(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener, port = spooled_listener(svc, bucket, gzip=True)
        files = explicit_files(corpus_dir)
        assert len(files) >= 5
        storescu(port, files)
        by_uid = {sop(p): p for p in files}
        rows = wait_all_stored(svc, list(by_uid))
        check_landed(s3, bucket, rows, by_uid)
        for row in rows:
            assert row["listenerId"] == listener["id"]
        # Every forward is counted, and timed in the forward latency histogram (claim to `stored`).
        wait_for(lambda: metric(svc, "dicom_instances_forwarded_total") == len(by_uid), timeout=10,
                 what="forwarded instances counted")
        assert metric(svc, "dicom_forward_duration_seconds_count") == len(by_uid)
        assert (metric(svc, "dicom_forward_duration_seconds_sum") or 0) > 0
        text = metrics_text(svc)
        assert re.search(r'^dicom_forward_duration_seconds_bucket\{le="\+Inf"\} ' + str(len(by_uid)) + r"$", text, re.M), text
        wait_for(lambda: not spool_files(os.path.join(data_dir, "spool")), timeout=30, what="spool emptied")
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
        with psycopg.connect(fresh_database_url) as conn:
            assert conn.execute("SELECT count(*) FROM instances WHERE storage_state <> 'stored'").fetchone()[0] == 0
    finally:
        assert svc.stop() == 0, svc.log_text()


def test_sigkill_while_forwarding_then_restart(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    """Large instances (multipart) and small ones behind a slow link to S3; SIGKILL once a multipart
    upload is in progress; the restarted service lands every acknowledged instance exactly once and
    aborts the upload the killed one left."""
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    proxy.delay = 0.01
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path, DICOM_INGEST_NODE_ID="node-a")
    svc2 = None
    try:
        big = [corpus.build_multiframe(str(tmp_path), frames=40 + i, name=f"kill_big_{i}.dcm") for i in range(3)]
        files = big + explicit_files(corpus_dir)
        by_uid = {sop(p): p for p in files}
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=False)
        answers = pynetdicom_send(port, files)
        assert [s for s, _ in answers] == [0] * len(files), answers
        wait_for(lambda: s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), timeout=60,
                 what="a multipart upload in progress")
        svc.stop(signal.SIGKILL)
        with psycopg.connect(fresh_database_url) as conn:
            spooled_at_kill = conn.execute("SELECT count(*) FROM instances WHERE storage_state = 'spooled'").fetchone()[0]
        uploads_at_kill = len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
        assert spooled_at_kill > 0 and uploads_at_kill > 0

        proxy.delay = 0.0
        svc2 = Service(svc.binary, svc.env, svc.cwd, svc.log_path).start()
        rows = wait_all_stored(svc2, list(by_uid))
        check_landed_once(s3, bucket, fresh_database_url, rows, by_uid)
        wait_for(lambda: not spool_files(os.path.join(data_dir, "spool")), timeout=30, what="spool emptied")
        print(f"at SIGKILL: {spooled_at_kill} of {len(files)} spooled, {uploads_at_kill} multipart uploads open")
    finally:
        proxy.stop()
        svc.stop(signal.SIGKILL)
        if svc2:
            assert svc2.stop() == 0, svc2.log_text()


def test_s3_outage_mid_send(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=False)
        files = explicit_files(corpus_dir)
        by_uid = {sop(p): p for p in files}
        half = len(files) // 2
        first = pynetdicom_send(port, files[:half])
        proxy.cut()
        cut_at = time.monotonic()
        second = pynetdicom_send(port, files[half:])
        assert [s for s, _ in first + second] == [0] * len(files), first + second
        # The backlog is visible while S3 is away; the spool absorbs the outage, so the service stays ready.
        wait_for(lambda: (metric(svc, "dicom_spool_instances") or 0) >= 1, timeout=20, what="spool gauge shows the backlog")
        status, body, _ = svc.request("GET", "/readyz", token=READ_TOKEN)
        assert status == 200, body
        assert "instances spooled" in str(body), body
        # GET /v1/stats shows the same backlog: instances, their bytes and the oldest one's age.
        _, stats, _ = svc.request("GET", "/v1/stats", token=READ_TOKEN, expect=200)
        assert stats["spool"]["instances"] >= 1 and stats["spool"]["bytes"] > 0, stats
        assert stats["spool"]["oldestAgeSeconds"] > 0 and stats["spool"]["lost"] == 0, stats
        time.sleep(max(0.0, 20 - (time.monotonic() - cut_at)))
        proxy.start()
        rows = wait_all_stored(svc, list(by_uid), timeout=180)
        check_landed(s3, bucket, rows, by_uid)
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    finally:
        proxy.stop()
        assert svc.stop() == 0, svc.log_text()


def test_s3_hung_mid_send(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    """The emulator itself stopped (SIGSTOP) for longer than an upload attempt's time bound, in the middle of
    a DCMTK send that includes a multipart instance: connections are accepted and never answered, unlike a
    refused connection. The sender sees only successes; the uploads in flight time out and are retried; after
    SIGCONT every instance lands once, byte-identical, and no multipart upload is left."""
    moto_pid = int(require_env("TEST_MOTO_PID"))
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    stopped = False
    try:
        listener, port = spooled_listener(svc, bucket, gzip=True)
        big = corpus.build_multiframe(str(tmp_path), frames=40, name="hung_big.dcm")
        files = explicit_files(corpus_dir)
        by_uid = {sop(p): p for p in files + [big]}
        half = len(files) // 2
        storescu(port, files[:half])
        os.kill(moto_pid, signal.SIGSTOP)
        stopped = True
        stopped_at = time.monotonic()
        storescu(port, files[half:] + [big])
        wait_for(lambda: (metric(svc, "dicom_spool_instances") or 0) >= 1, timeout=20, what="spool gauge shows the backlog")
        status, body, _ = svc.request("GET", "/readyz", token=READ_TOKEN)
        assert status == 200 and "instances spooled" in str(body), body
        # Past the forwarder's 20 s bound for one attempt, so the uploads in flight end and are retried.
        time.sleep(max(0.0, 25 - (time.monotonic() - stopped_at)))
        pending = [uid for uid in by_uid if (row := instance(svc, uid)) is None or row["storageState"] != "stored"]
        assert pending, "every instance was stored while S3 did not answer"
        assert "time bound reached" in svc.log_text(), "no upload attempt ran into its time bound while S3 was stopped"
        os.kill(moto_pid, signal.SIGCONT)
        stopped = False
        rows = wait_all_stored(svc, list(by_uid), timeout=180)
        check_landed_once(s3, bucket, fresh_database_url, rows, by_uid)
    finally:
        if stopped:
            os.kill(moto_pid, signal.SIGCONT)
        assert svc.stop() == 0, svc.log_text()


def test_spool_quota_refuses_then_recovers(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path, DICOM_INGEST_SPOOL_MAX_BYTES="300000")
    try:
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=False, createMetadata=False)
        proxy.cut()
        files = [corpus.build_multiframe(str(tmp_path), frames=1, rows=256, columns=256 + 2 * i, name=f"quota_{i}.dcm")
                 for i in range(6)]   # ~128 KiB each
        answers = pynetdicom_send(port, files)
        codes = [s for s, _ in answers]
        assert codes[0] == 0, answers
        refused = [(p, a) for p, a in zip(files, answers) if a[0] != 0]
        assert refused, f"quota never reached: {answers}"
        for path, (status, comment) in refused:
            assert status == 0xA700 and "Spool full" in comment, (hex(status), comment)
            assert instance(svc, sop(path)) is None, "a refused instance has a row"
        accepted = [p for p, a in zip(files, answers) if a[0] == 0]
        status, body, _ = svc.request("GET", "/readyz", token=READ_TOKEN)
        assert status == 503 and "Spool full" in str(body), body
        # Nothing half-written: the spool holds exactly the accepted instances.
        assert len(spool_files(os.path.join(data_dir, "spool"))) == len(accepted)

        proxy.start()
        wait_all_stored(svc, [sop(p) for p in accepted], timeout=180)
        wait_for(lambda: svc.request("GET", "/readyz", token=None)[0] == 200, timeout=60, what="/readyz 200 after draining")
        # The quota holds to the byte, so a batch larger than it is refused part-way again: the refused
        # instances go one at a time, each after the previous one has drained.
        for path, _ in refused:
            again = pynetdicom_send(port, [path])
            assert [s for s, _ in again] == [0], again
            wait_all_stored(svc, [sop(path)], timeout=180)
        by_uid = {sop(p): p for p in files}
        rows = wait_all_stored(svc, list(by_uid), timeout=180)
        for row in rows:
            key = row["objectUri"].split("/", 3)[3]
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == row["sha256"]
    finally:
        proxy.stop()
        assert svc.stop() == 0, svc.log_text()


def test_two_nodes_share_spool_one_dies(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    spool_dir = str(tmp_path / "shared-spool")
    common = dict(DICOM_INGEST_SPOOL_DIR=spool_dir, DICOM_INGEST_FORWARD_LEASE_SECONDS="5")
    node_a, _ = own_service(binary, s3_settings, fresh_database_url, tmp_path, name="a", DICOM_INGEST_NODE_ID="node-a", **common)
    node_b = None
    try:
        listener, port = spooled_listener(node_a, bucket, endpoint=proxy.endpoint, gzip=False)
        proxy.cut()
        files = explicit_files(corpus_dir)
        answers = pynetdicom_send(port, files)
        assert [s for s, _ in answers] == [0] * len(files), answers
        # Node A claims the rows (and fails on S3) while B is not there: A holds leases when it dies.
        wait_for(lambda: (metric(node_a, "dicom_forward_failures_total") or 0) >= 1, timeout=60,
                 what="node A attempting (and failing) to forward")
        node_a.stop(signal.SIGKILL)
        with psycopg.connect(fresh_database_url) as conn:
            pending = conn.execute("SELECT count(*) FROM instances WHERE storage_state = 'spooled'").fetchone()[0]
        assert pending == len(files)
        # S3 returns; node B (its readiness asks S3) starts and takes over once node A's leases expire.
        proxy.start()
        node_b, _ = own_service(binary, s3_settings, fresh_database_url, tmp_path, name="b", DICOM_INGEST_NODE_ID="node-b", **common)
        by_uid = {sop(p): p for p in files}
        rows = wait_all_stored(node_b, list(by_uid), timeout=180)
        check_landed(s3, bucket, rows, by_uid)
        assert not spool_files(spool_dir)
    finally:
        proxy.stop()
        node_a.stop(signal.SIGKILL)
        if node_b:
            assert node_b.stop() == 0, node_b.log_text()


def test_sigterm_leaves_the_backlog_spooled_for_the_next_start(binary, s3_settings, fresh_database_url, bucket, s3,
                                                               corpus_dir, tmp_path):
    """Graceful shutdown with S3 away: the process exits 0 within its grace period, every acknowledged
    instance stays spooled (nothing dropped, nothing half-done), and the next start lands them all."""
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path, DICOM_INGEST_SHUTDOWN_GRACE_SECONDS="5")
    svc2 = None
    try:
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=True)
        proxy.cut()
        files = explicit_files(corpus_dir)
        by_uid = {sop(p): p for p in files}
        answers = pynetdicom_send(port, files)
        assert [s for s, _ in answers] == [0] * len(files), answers
        started = time.monotonic()
        assert svc.stop(signal.SIGTERM, timeout=60) == 0, svc.log_text()
        assert time.monotonic() - started < 30
        with psycopg.connect(fresh_database_url) as conn:
            states = conn.execute("SELECT storage_state, count(*) FROM instances GROUP BY storage_state").fetchall()
        assert dict(states) == {"spooled": len(files)}, states
        assert len(spool_files(os.path.join(data_dir, "spool"))) == 2 * len(files)  # Part 10 + JSON each

        proxy.start()
        svc2 = Service(svc.binary, svc.env, svc.cwd, svc.log_path).start()
        rows = wait_all_stored(svc2, list(by_uid))
        check_landed(s3, bucket, rows, by_uid)
        status, stats, _ = svc2.request("GET", "/v1/stats", token=READ_TOKEN, expect=200)
        assert stats["spool"] == {"instances": 0, "bytes": 0, "oldestAgeSeconds": 0, "lost": 0}, stats
        assert not spool_files(os.path.join(data_dir, "spool"))
    finally:
        proxy.stop()
        if svc2:
            assert svc2.stop() == 0, svc2.log_text()


def test_orphan_spool_file_removed_and_missing_file_reported_lost(binary, s3_settings, fresh_database_url, bucket, s3,
                                                                  corpus_dir, tmp_path):
    """Recovery: a spool file without a committed row (a crash between fsync and commit) is removed; a
    spooled row whose spool file is gone becomes `lost`, counted, never dropped."""
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    svc2 = None
    try:
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=False, createMetadata=False)
        proxy.cut()
        files = explicit_files(corpus_dir)[:3]
        answers = pynetdicom_send(port, files)
        assert [s for s, _ in answers] == [0] * len(files), answers
        assert svc.stop(signal.SIGKILL) is not None
        spool = os.path.join(data_dir, "spool", listener["id"])
        spooled = sorted(spool_files(spool))
        assert len(spooled) == 3
        os.unlink(spooled[0])  # the volume lost a file
        orphan = os.path.join(spool, "DICOM", "1.2.3.4.orphan.dcm")
        with open(orphan, "wb") as f:
            f.write(b"no row refers to this")
        old = time.time() - 3600
        os.utime(orphan, (old, old))

        proxy.start()
        svc2 = Service(svc.binary, svc.env, svc.cwd, svc.log_path).start()
        wait_for(lambda: not os.path.exists(orphan), timeout=30, what="orphan spool file removed")
        uids = [sop(p) for p in files]

        def settled():
            rows = [instance(svc2, uid) for uid in uids]
            return all(r and r["storageState"] in ("stored", "lost") for r in rows) and rows
        rows = wait_for(settled, timeout=60, interval=0.5, what="every row stored or lost")
        assert sorted(r["storageState"] for r in rows) == ["lost", "stored", "stored"], rows
        status, stats, _ = svc2.request("GET", "/v1/stats", token=READ_TOKEN, expect=200)
        assert stats["spool"]["lost"] == 1 and stats["spool"]["instances"] == 0, stats
        assert (metric(svc2, "dicom_spool_lost_total") or 0) == 1
    finally:
        proxy.stop()
        if svc2:
            assert svc2.stop() == 0, svc2.log_text()


def test_spooled_listener_with_a_filesystem_target(binary, s3_settings, fresh_database_url, corpus_dir, tmp_path):
    """The forwarder writes to a filesystem target as well (URIs `file://…`, percent-encoded)."""
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        root = os.path.join(data_dir, "objects with space")
        port = free_port()
        svc.create_listener(name="spool-fs-" + uuid.uuid4().hex[:6], port=port, bindAddress="127.0.0.1",
                            storage={"backend": "filesystem", "path": root, "ackMode": "spooled", "gzip": False})
        files = explicit_files(corpus_dir)[:5]
        storescu(port, files)
        by_uid = {sop(p): p for p in files}
        rows = wait_all_stored(svc, list(by_uid))
        for row in rows:
            assert row["objectUri"].startswith("file://")
            path = urllib.parse.unquote(row["objectUri"][len("file://"):])
            assert path.startswith(root + "/")
            with open(path, "rb") as f:
                body = f.read()
            assert hashlib.sha256(body).hexdigest() == row["sha256"]
            checks.check_part10(body, by_uid[row["sopInstanceUID"]], calling_ae="SPOOLSCU", called_ae="STORESCP")
            assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
        wait_for(lambda: not spool_files(os.path.join(data_dir, "spool")), timeout=30, what="spool emptied")
    finally:
        assert svc.stop() == 0, svc.log_text()
