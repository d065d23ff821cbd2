"""Black-box edges of the REST control plane and of what it lets an administrator reach, against the
built binary: listener validation (key templates, every invalid field named at once), the operator's
storage roots and S3 endpoints, /readyz detail, member order, cursors, the write timeout, the connection
cap, TLS versions and suites, the generated admin token, escaped log lines, PHI file modes and folder
fsyncs."""
import json
import os
import re
import signal
import socket
import ssl
import stat
import struct
import subprocess
import time
import urllib.request

import pytest
import yaml

import corpus  # builds the corpus fixture's files, and the large multiframe below
from conftest import ADMIN_TOKEN, READ_TOKEN, Service, free_port, service_env, wait_for

STORESCU = "/usr/bin/storescu"
STRACE = "/usr/bin/strace"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def spec_members(schema):
    with open(os.path.join(ROOT, "openapi.yaml"), encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    return list(spec["components"]["schemas"][schema]["properties"].keys())


def raw_get(base, path, token=ADMIN_TOKEN):
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fields(body):
    return sorted(e["field"] for e in body.get("errors", []))


def own_service(binary, s3_settings, tmp_path, name, database_url=None, **extra):
    """A service of the test's own: embedded SQLite catalog, the seed listener on a free port (so no
    listener takes the fixed port 11112)."""
    data_dir = str(tmp_path / name)
    os.makedirs(data_dir, exist_ok=True)
    extra.setdefault("SCP_PORT", str(free_port()))
    env = service_env(s3_settings, database_url, data_dir, **extra)
    return Service(binary, env, data_dir, str(tmp_path / f"{name}.log"))


# ---- listener validation -------------------------------------------------------------------------

def test_every_invalid_field_is_named(service):
    status, body, _ = service.request("POST", "/v1/listeners",
                                      {"name": "Bad Name", "port": 99999, "storage": {"backend": "nope"}})
    assert status == 400, body
    assert fields(body) == ["name", "port", "storage.backend"], body


@pytest.mark.parametrize("template", ["{StudyInstanceUID}", "{StudyInstanceUID}/{SeriesInstanceUID}",
                                      "/abs/{SOPInstanceUID}", "../{SOPInstanceUID}", "{Nope}/{SOPInstanceUID}", ""])
def test_key_templates_that_overwrite_or_cannot_form_keys_are_refused(service, template):
    status, body, _ = service.request("POST", "/v1/listeners", {
        "name": "kt-refused", "port": free_port(), "enabled": False,
        "storage": {"backend": "filesystem", "path": service.cwd + "/kt", "keyTemplate": template}})
    assert status == 400, body
    assert fields(body) == ["storage.keyTemplate"], body


# ---- what an administrator can reach ---------------------------------------------------------------

def test_storage_path_must_lie_in_a_storage_root(service):
    link = os.path.join(service.cwd, "escape-link")
    if not os.path.islink(link):
        os.symlink("/etc", link)  # inside the root by name, outside it in fact
    for path in ["/etc/cron.d", "/tmp", service.cwd + "/../elsewhere", "relative", link + "/x"]:
        status, body, _ = service.request("POST", "/v1/listeners", {
            "name": "fs-outside", "port": free_port(), "enabled": False, "storage": {"backend": "filesystem", "path": path}})
        assert status == 400 and fields(body) == ["storage.path"], (path, body)
    status, created, _ = service.request("POST", "/v1/listeners", {
        "name": "fs-inside", "port": free_port(), "enabled": False,
        "storage": {"backend": "filesystem", "path": service.cwd + "/inside"}}, expect=201)
    try:
        status, body, _ = service.request("PATCH", f"/v1/listeners/{created['id']}", {"storage": {"path": "/var/tmp"}},
                                          content_type="application/merge-patch+json")
        assert status == 400 and fields(body) == ["storage.path"], body
    finally:
        service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)


def test_storage_endpoint_must_be_allowed(service, bucket, s3_settings):
    for endpoint in ["http://169.254.169.254", "https://example.com", "http://10.0.0.1:9000"]:
        status, body, _ = service.request("POST", "/v1/listeners", {
            "name": "s3-outside", "port": free_port(), "enabled": False,
            "storage": {"backend": "s3", "bucket": bucket, "endpoint": endpoint}})
        assert status == 400 and fields(body) == ["storage.endpoint"], (endpoint, body)
    status, created, _ = service.request("POST", "/v1/listeners", {
        "name": "s3-allowed", "port": free_port(), "enabled": False,
        "storage": {"backend": "s3", "bucket": bucket, "endpoint": s3_settings["endpoint"]}}, expect=201)
    service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)


def test_seed_listener_outside_the_roots_is_a_configuration_error(binary, s3_settings, tmp_path):
    data_dir = str(tmp_path / "seed-outside")
    env = service_env(s3_settings, None, data_dir, SCP_PORT=str(free_port()),
                      DICOM_INGEST_STORAGE_ROOTS=str(tmp_path / "somewhere-else"))
    result = subprocess.run([binary, "serve"], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DICOM_INGEST_STORAGE_ROOTS" in result.stdout + result.stderr


# ---- readiness, member order, cursors ----------------------------------------------------------------

def test_readyz_has_no_detail_without_a_token(service):
    status, raw = raw_get(service.base, "/readyz", token=None)
    assert status == 200
    assert json.loads(raw) == {"status": "ready", "checks": []}
    status, raw = raw_get(service.base, "/readyz", token=READ_TOKEN)
    assert status == 200 and json.loads(raw)["checks"], raw


def test_objects_are_written_in_the_spec_member_order(service):
    status, created, _ = service.request("POST", "/v1/listeners", {
        "name": "order", "port": free_port(), "enabled": False}, expect=201)
    try:
        for _ in range(3):
            status, raw = raw_get(service.base, f"/v1/listeners/{created['id']}")
            listener = json.loads(raw, object_pairs_hook=lambda pairs: pairs)
            assert [k for k, _ in listener] == spec_members("Listener")
            storage = dict(listener)["storage"]
            assert [k for k, _ in storage] == spec_members("StorageTarget")
        status, raw = raw_get(service.base, "/v1/listeners/not-a-uuid")
        problem = json.loads(raw, object_pairs_hook=lambda pairs: pairs)
        assert [k for k, _ in problem] == [m for m in spec_members("Problem") if m != "errors"]
    finally:
        service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)


def test_cursors_of_the_stated_form_are_accepted(service):
    for path in ["/v1/studies?cursor=s0_0", "/v1/associations?cursor=a0_00000000-0000-0000-0000-000000000000",
                 "/v1/series/1.2.3/instances?cursor=i0_0"]:
        status, raw = raw_get(service.base, path)
        assert status == 200, (path, raw)
    for path in ["/v1/studies?cursor=0", "/v1/associations?cursor=0", "/v1/series/1.2.3/instances?cursor=0"]:
        status, raw = raw_get(service.base, path)
        assert status == 400 and fields(json.loads(raw)) == ["cursor"], (path, raw)


# ---- write timeout and connection cap --------------------------------------------------------------

def test_a_response_the_client_does_not_read_is_cut_off(binary, s3_settings, tmp_path):
    svc = own_service(binary, s3_settings, tmp_path, "write-timeout", DICOM_INGEST_HTTP_WRITE_TIMEOUT_SECONDS="2").start()
    try:
        count = 3000
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", svc.http_port))
        request = b"GET /openapi.yaml HTTP/1.1\r\nHost: t\r\n\r\n"
        sock.sendall(request * count)  # ~100 MiB of responses asked for, none read yet
        time.sleep(6)  # write timeout (2 s) and margin, reading nothing
        sock.settimeout(20)
        received = b""
        closed = False
        deadline = time.monotonic() + 30  # bounds the test when the server keeps writing instead
        try:
            while time.monotonic() < deadline:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    closed = True
                    break
                received += chunk
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        sock.close()
        assert closed, "the server kept a connection whose client did not read"
        assert received.count(b"HTTP/1.1 200") < count
        status, _ = raw_get(svc.base, "/healthz", token=None)
        assert status == 200
    finally:
        assert svc.stop() == 0, svc.log_text()


def test_connections_beyond_the_cap_are_closed(binary, s3_settings, tmp_path):
    svc = own_service(binary, s3_settings, tmp_path, "conn-cap", DICOM_INGEST_HTTP_MAX_CONNECTIONS="4").start()
    held = []
    try:
        def keep_alive_get(sock):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    return data
                data += chunk
            return data

        # Connections of the readiness probe may still be counted for a moment: wait until 4 are held.
        def hold_four():
            while len(held) < 4:
                s = socket.create_connection(("127.0.0.1", svc.http_port), timeout=10)
                if keep_alive_get(s).startswith(b"HTTP/1.1 200"):
                    held.append(s)
                else:
                    s.close()
            return True
        wait_for(hold_four, timeout=30, what="four held connections")

        extra = socket.create_connection(("127.0.0.1", svc.http_port), timeout=10)
        try:
            answer = keep_alive_get(extra)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
        extra.close()
        assert answer == b"", f"a fifth connection was served: {answer[:80]!r}"

        held.pop().close()

        def served():
            s = socket.create_connection(("127.0.0.1", svc.http_port), timeout=10)
            try:
                return keep_alive_get(s).startswith(b"HTTP/1.1 200")
            finally:
                s.close()
        wait_for(served, timeout=15, what="a connection served once one was freed")
    finally:
        for s in held:
            s.close()
        assert svc.stop() == 0, svc.log_text()


# ---- TLS --------------------------------------------------------------------------------------------

class TLSService(Service):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.base = f"https://127.0.0.1:{self.http_port}"

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"dicom-ingest exited with {self.proc.returncode}; log:\n{self.log_text()}")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(self.base + "/readyz", timeout=2, context=ctx) as r:
            return r.status == 200


def tls_handshake(port, configure):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    configure(ctx)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            return tls.version(), tls.cipher()[0]


def test_api_tls_is_1_2_or_newer_with_aead_suites_only(binary, s3_settings, tmp_path):
    cert, key = str(tmp_path / "api.crt"), str(tmp_path / "api.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    data_dir = str(tmp_path / "tls")
    os.makedirs(data_dir)
    env = service_env(s3_settings, None, data_dir, DICOM_INGEST_HTTP_TLS_CERTIFICATE_FILE=cert,
                      DICOM_INGEST_HTTP_TLS_PRIVATE_KEY_FILE=key, SCP_PORT=str(free_port()))
    svc = TLSService(binary, env, data_dir, str(tmp_path / "tls.log")).start()
    try:
        def tls12(ctx):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        version, cipher = tls_handshake(svc.http_port, tls12)
        assert version == "TLSv1.2" and ("GCM" in cipher or "CHACHA20" in cipher), cipher

        def tls13(ctx):
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        assert tls_handshake(svc.http_port, tls13)[0] == "TLSv1.3"

        def cbc_suite(ctx):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            tls_handshake(svc.http_port, cbc_suite)

        def tls11(ctx):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            tls_handshake(svc.http_port, tls11)
    finally:
        assert svc.stop() == 0, svc.log_text()


# ---- the generated token, log lines ----------------------------------------------------------------

def test_generated_admin_token_is_not_logged(binary, s3_settings, tmp_path):
    svc = own_service(binary, s3_settings, tmp_path, "token", DICOM_INGEST_ADMIN_TOKENS="", DICOM_INGEST_READ_TOKENS="",
                      SCP_PORT=str(free_port()))
    svc.start()
    try:
        token_file = os.path.join(svc.cwd, "admin-token")
        assert token_file in svc.log_text(), svc.log_text()
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        with open(token_file) as f:
            token = f.read().strip()
        assert len(token) >= 32
        assert token not in svc.log_text()
        status, _ = raw_get(svc.base, "/v1/listeners", token=token)
        assert status == 200
    finally:
        assert svc.stop() == 0, svc.log_text()


def associate_rq(calling: bytes, called: bytes = b"ANY-SCP") -> bytes:
    def item(kind, body):
        return struct.pack(">BBH", kind, 0, len(body)) + body
    abstract = item(0x30, b"1.2.840.10008.1.1")
    transfer = item(0x40, b"1.2.840.10008.1.2")
    context = item(0x20, bytes([1, 0, 0, 0]) + abstract + transfer)
    user = item(0x50, item(0x51, struct.pack(">I", 16384)))
    body = (struct.pack(">HH", 1, 0) + called.ljust(16, b" ")[:16] + calling.ljust(16, b" ")[:16] + bytes(32)
            + item(0x10, b"1.2.840.10008.3.1.1.1") + context + user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def test_wire_text_cannot_forge_log_lines(service):
    port = free_port()
    created = service.create_listener(name="log-escape", port=port,
                                      storage={"backend": "filesystem", "path": service.cwd + "/log-escape"})
    try:
        forged = b"X\n9999 FORGED"
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(associate_rq(forged))
            header = sock.recv(6)
            assert header, "no answer to the A-ASSOCIATE-RQ"
            if header[0] == 0x02:
                sock.sendall(bytes([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
                sock.recv(64)

        wait_for(lambda: "FORGED" in service.log_text(), timeout=10, what="the association in the log")
        lines = service.log_text().splitlines()
        assert not [line for line in lines if line.startswith("9999 FORGED")], "a forged line reached the log"
        assert any(r"X\n9999 FORGED" in line for line in lines)
    finally:
        service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)


# ---- PHI at rest: modes and folder fsync --------------------------------------------------------------

def send_traced(binary, env, tmp_path, syscalls, scp_port, path):
    """Runs the service under strace (every thread; -y prints the path behind each descriptor), sends
    `path` with storescu to its default listener, stops it, and returns the trace's lines."""
    trace = str(tmp_path / "strace.txt")
    svc = Service(binary, env, str(tmp_path), str(tmp_path / "traced.log"))
    svc.log = open(svc.log_path, "ab")
    svc.proc = subprocess.Popen([STRACE, "-f", "-qq", "-y", "-e", f"trace={syscalls}", "-e", "signal=none",
                                 "-o", trace, binary, "serve"], env=env, cwd=str(tmp_path), stdout=svc.log,
                                stderr=subprocess.STDOUT)
    try:
        wait_for(svc._ready, timeout=120, what="dicom-ingest /readyz under strace")
        result = subprocess.run([STORESCU, "127.0.0.1", str(scp_port), path], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr + svc.log_text()
    finally:
        # SIGTERM goes to the traced service (strace itself would detach and leave it running).
        with open(f"/proc/{svc.proc.pid}/task/{svc.proc.pid}/children") as f:
            children = [int(pid) for pid in f.read().split()]
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        try:
            code = svc.proc.wait(timeout=60)
        finally:
            if svc.proc.poll() is None:
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                svc.proc.kill()
                svc.proc.wait()
            svc.log.close()
        assert code == 0, svc.log_text()
    with open(trace) as f:
        return f.read().splitlines()

def test_objects_folders_and_catalog_are_owner_only_and_new_folders_are_synced(binary, s3_settings, corpus_dir, tmp_path):
    data_dir = str(tmp_path / "phi")  # created by the service (0700)
    scp_port = free_port()
    env = service_env(s3_settings, None, data_dir, SCP_PORT=str(scp_port), ADD_STUDYUID_PREFIX="true")
    path = os.path.join(corpus_dir, "CT_small.dcm")
    calls = send_traced(binary, env, tmp_path, "mkdir,mkdirat,fsync", scp_port, path)

    objects = os.path.join(data_dir, "objects")
    files, folders = [], [objects]
    for parent, dirs, names in os.walk(objects):
        folders += [os.path.join(parent, d) for d in dirs]
        files += [os.path.join(parent, n) for n in names]
    assert any(f.endswith(".dcm") for f in files), files
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    for d in folders:
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    for name in os.listdir(data_dir):
        if name.startswith("catalog.sqlite"):
            assert stat.S_IMODE(os.stat(os.path.join(data_dir, name)).st_mode) == 0o600, name

    # Every folder created under the objects root is followed by an fsync of its parent.
    created = []  # (index, parent, name, mode)
    # A call another thread interrupts is split into "<unfinished ...>" and "<... resumed>" lines: match
    # the start of each call, and count a mkdirat as creating a folder when that folder exists.
    mkdirat = re.compile(r'mkdirat\(\d+<([^>]*)>, "([^"]+)", (0\d+)')
    def succeeded(index, line):
        if "<unfinished ...>" not in line:
            return line.rstrip().endswith("= 0")
        pid = line.split()[0]
        resumed_line = re.compile(r"^" + pid + r"\s+<\.\.\. mkdirat resumed>")  # strace pads the pid column
        resumed = next((later for later in calls[index + 1:] if resumed_line.match(later)), "")
        return resumed.rstrip().endswith("= 0")
    for index, line in enumerate(calls):
        m = mkdirat.search(line)
        if m and (m.group(1) + "/" + m.group(2)) in folders and succeeded(index, line):
            created.append((index, m.group(1), m.group(2), m.group(3)))
    created_paths = {p + "/" + n for _, p, n, _ in created}
    for folder in folders:
        if folder != objects:
            assert folder in created_paths, (folder, created)
    for index, parent, name, mode in created:
        assert mode == "0700", (parent, name, mode)
        synced = any(re.search(r"fsync\(\d+<" + re.escape(parent) + r">", line) for line in calls[index + 1:])
        assert synced, f"{parent}/{name} was created but {parent} was never fsynced after it"


def test_a_large_object_is_written_back_while_it_arrives(binary, s3_settings, tmp_path):
    """The bytes of an object written before its last PDU arrived are handed to the device at once
    (sync_file_range, SYNC_FILE_RANGE_WRITE), so the fsync after the last byte waits for the tail only."""
    data_dir = str(tmp_path / "data")
    scp_port = free_port()
    env = service_env(s3_settings, None, data_dir, SCP_PORT=str(scp_port))
    path = corpus.build_multiframe(str(tmp_path), frames=12, name="multiframe_6mib.dcm")  # 6 MiB of pixel data
    size = os.path.getsize(path)
    calls = send_traced(binary, env, tmp_path, "sync_file_range,fsync", scp_port, path)

    ranges, last_range_line, first_fsync_line = [], None, None
    for index, line in enumerate(calls):
        m = re.search(r"sync_file_range\(\d+<[^>]*\.dcm\.tmp-[^>]*>, (\d+), (\d+), SYNC_FILE_RANGE_WRITE", line)
        if m:
            ranges.append((int(m.group(1)), int(m.group(2))))
            last_range_line = index
        elif first_fsync_line is None and re.search(r"fsync\(\d+<[^>]*\.dcm\.tmp-[^>]*>", line):
            first_fsync_line = index
    assert len(ranges) >= 4, calls
    ranges.sort()
    assert ranges[0][0] == 0, ranges
    for (offset, length), (next_offset, _) in zip(ranges, ranges[1:]):
        assert offset + length == next_offset, ranges  # contiguous, nothing written twice
    written_early = ranges[-1][0] + ranges[-1][1]
    # Everything but the last write buffer (1 MiB) went to the device before the object was complete.
    assert written_early >= size - (1 << 20), (written_early, size)
    assert first_fsync_line is not None and first_fsync_line > last_range_line, (first_fsync_line, last_range_line)
