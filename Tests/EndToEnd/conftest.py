"""End-to-end fixtures: the built `dicom-ingest` binary against real PostgreSQL, the S3 emulator
(moto_server with SigV4 auth on), and real DICOM peers (DCMTK, pynetdicom).

scripts/test exports TEST_POSTGRES_URL, TEST_S3_* and DICOM_INGEST_BIN. A missing service is an error,
never a skip.
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import boto3
import psycopg
import pytest

sys.path.insert(0, os.path.dirname(__file__))

ADMIN_TOKEN = "e2e-admin-" + secrets.token_hex(8)
READ_TOKEN = "e2e-read-" + secrets.token_hex(8)


def require_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite through scripts/test, which starts PostgreSQL, "
                    f"moto_server and builds the binary", pytrace=False)
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - we report the last one
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def report(request, line):
    """Writes `line` to the terminal even though output is captured (pytest -q in scripts/test)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        if reporter:
            reporter.write_line("")
            reporter.write_line(line)
        else:
            print(line)


class Service:
    """One running `dicom-ingest serve` process."""

    def __init__(self, binary, env, cwd, log_path):
        self.binary = binary
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.http_port = int(env["DICOM_INGEST_HTTP_PORT"])
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, cwd=self.cwd,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout=60, what="dicom-ingest /readyz")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"dicom-ingest exited with {self.proc.returncode}; log:\n{self.log_text()}")
        with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
            return r.status == 200

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-20000:]

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()

    # REST helpers -------------------------------------------------------------------------------
    def request(self, method, path, body=None, token=ADMIN_TOKEN, content_type="application/json", expect=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, raw, headers = e.code, e.read(), dict(e.headers)
        payload = json.loads(raw) if raw and headers.get("Content-Type", "").split(";")[0].endswith("json") else raw
        if expect is not None:
            assert status == expect, f"{method} {path} -> {status}: {payload!r}\nlog:\n{self.log_text()}"
        return status, payload, headers

    def create_listener(self, **fields):
        status, body, _ = self.request("POST", "/v1/listeners", fields, expect=201)
        wait_for(lambda: self.request("GET", f"/v1/listeners/{body['id']}")[1]["state"] == "running",
                 timeout=10, what=f"listener {fields.get('name')} running")
        return body


@pytest.fixture(scope="session")
def binary():
    path = require_env("DICOM_INGEST_BIN")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not an executable: build with `swift build --product dicom-ingest`", pytrace=False)
    return path


@pytest.fixture(scope="session")
def s3_settings():
    return {
        "endpoint": require_env("TEST_S3_ENDPOINT"),
        "access_key": require_env("TEST_S3_ACCESS_KEY_ID"),
        "secret_key": require_env("TEST_S3_SECRET_ACCESS_KEY"),
        "region": os.environ.get("TEST_S3_REGION", "us-east-1"),
    }


@pytest.fixture(scope="session")
def s3(s3_settings):
    return boto3.client("s3", endpoint_url=s3_settings["endpoint"], region_name=s3_settings["region"],
                        aws_access_key_id=s3_settings["access_key"],
                        aws_secret_access_key=s3_settings["secret_key"])


@pytest.fixture
def bucket(s3):
    name = "e2e-" + uuid.uuid4().hex[:20]
    s3.create_bucket(Bucket=name)
    return name


def _new_database():
    base = require_env("TEST_POSTGRES_URL")
    parsed = urllib.parse.urlparse(base)
    name = "e2e_" + uuid.uuid4().hex[:12]
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed._replace(path="/" + name).geturl(), admin, name


def _drop_database(admin, name):
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url():
    """A fresh PostgreSQL database for the session's shared service."""
    url, admin, name = _new_database()
    yield url
    _drop_database(admin, name)


@pytest.fixture
def fresh_database_url():
    """A database of its own, for a test that runs its own service instance."""
    url, admin, name = _new_database()
    yield url
    _drop_database(admin, name)


def service_env(s3_settings, database_url, data_dir, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCP_", "RECEIVE_", "DICOM_INGEST_"))}
    env.update({
        "DICOM_INGEST_HTTP_HOST": "127.0.0.1",
        "DICOM_INGEST_HTTP_PORT": str(free_port()),
        "DICOM_INGEST_DATA_DIR": data_dir,
        "DICOM_INGEST_ADMIN_TOKENS": ADMIN_TOKEN,
        "DICOM_INGEST_READ_TOKENS": READ_TOKEN,
        "DICOM_INGEST_SHUTDOWN_GRACE_SECONDS": "20",
        "AWS_ACCESS_KEY_ID": s3_settings["access_key"],
        "AWS_SECRET_ACCESS_KEY": s3_settings["secret_key"],
        "AWS_REGION": s3_settings["region"],
        "AWS_ENDPOINT_URL_S3": s3_settings["endpoint"],
        # Tests start their own S3 emulators on free loopback ports (test_faults); filesystem listeners
        # store under the data directory, the default storage root.
        "DICOM_INGEST_S3_ENDPOINTS": "http://127.0.0.1:*",
        "LOG_LEVEL": "INFO",
    })
    if database_url:
        env["DICOM_INGEST_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def service(binary, s3_settings, database_url, tmp_path_factory):
    """The shared service of the suite: PostgreSQL catalog, S3 credentials for moto."""
    data_dir = str(tmp_path_factory.mktemp("service-data"))
    env = service_env(s3_settings, database_url, data_dir)
    svc = Service(binary, env, data_dir, os.path.join(data_dir, "service.log")).start()
    yield svc
    code = svc.stop()
    assert code == 0, f"dicom-ingest exited with {code} on SIGTERM; log:\n{svc.log_text()}"


@pytest.fixture
def corpus_dir(tmp_path_factory, request):
    """The corpus with SOP Instance UIDs of this test's own: the shared service keeps one catalog row per
    UID owned by the listener that first received it (another listener's re-send is refused with 0111), so
    tests that each create a listener must not share instances."""
    import corpus
    out = tmp_path_factory.mktemp("corpus")
    corpus.build(str(out), salt=request.node.nodeid)
    return str(out)
