"""The service as an unprivileged user, as the container image runs it (uid 10001, no capabilities): an
accepted HTTP or DIMSE connection must be served, not end the process. A socket option that needs
CAP_NET_ADMIN on accepted connections (SO_DEBUG, which is what TCP_NODELAY's number means at SOL_SOCKET
level) failed every accept with EACCES and stopped the whole service."""
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import ADMIN_TOKEN, free_port, wait_for

NOBODY = 65534


@pytest.fixture
def unprivileged_service(binary):
    if os.geteuid() != 0:
        pytest.fail("this test switches to an unprivileged user and must start as root (scripts/test runs as root)",
                    pytrace=False)
    data_dir = tempfile.mkdtemp(prefix="dicom-ingest-unprivileged-")
    os.chmod(data_dir, 0o777)
    http_port, dimse_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCP_", "RECEIVE_", "DICOM_INGEST_"))}
    env.update({
        "DICOM_INGEST_DATA_DIR": data_dir,
        "DICOM_INGEST_HTTP_HOST": "127.0.0.1",
        "DICOM_INGEST_HTTP_PORT": str(http_port),
        "DICOM_INGEST_ADMIN_TOKENS": ADMIN_TOKEN,
        "SCP_PORT": str(dimse_port),
        "HOME": data_dir,
    })
    log_path = os.path.join(data_dir, "service.log")
    with open(log_path, "wb") as log:
        # setpriv execs the binary itself (no intermediate process), so SIGTERM reaches the service.
        proc = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                 binary, "serve"], env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)

    def log_text():
        with open(log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-8000:]

    def healthz():
        assert proc.poll() is None, f"dicom-ingest exited with {proc.returncode}; log:\n{log_text()}"
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=2) as r:
            return r.status == 200

    try:
        wait_for(lambda: os.path.exists(log_path) and "REST API listening" in log_text(), timeout=60,
                 what="the REST API listening")
        yield proc, http_port, dimse_port, healthz, log_text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_unprivileged_service_serves_http_and_dimse_connections(unprivileged_service):
    proc, http_port, dimse_port, healthz, log_text = unprivileged_service
    assert healthz()
    assert healthz(), "the service did not survive its first HTTP connection"
    echo = subprocess.run(["/usr/bin/echoscu", "-aet", "MYSCU", "-aec", "STORESCP", "127.0.0.1", str(dimse_port)],
                          capture_output=True, text=True, timeout=60)
    assert echo.returncode == 0, f"{echo.stderr}\nlog:\n{log_text()}"
    assert healthz(), "the service did not survive a DIMSE connection"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log_text()
