"""The embedded zero-config default and the seed-compatible environment."""
import gzip
import os
import stat
import subprocess
import time
import uuid
import warnings

import pydicom

import checks
from conftest import ADMIN_TOKEN, Service, free_port, service_env, wait_for

STORESCU = "/usr/bin/storescu"
ECHOSCU = "/usr/bin/echoscu"


def sop(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


def test_embedded_default(binary, corpus_dir, tmp_path):
    """No settings at all: SQLite + filesystem under ./data, listener `default` on 11112, REST on loopback
    with a generated admin token handed over in an owner-only file."""
    cwd = tmp_path / "fresh-clone"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DICOM_INGEST_", "SCP_", "RECEIVE_", "AWS_", "STUNNEL_", "GZIP_", "CREATE_METADATA"))}
    http_port = free_port()
    env["DICOM_INGEST_HTTP_PORT"] = str(http_port)  # 8080 may be taken on a shared machine
    svc = Service(binary, env, str(cwd), str(tmp_path / "embedded.log")).start()
    try:
        wait_for(lambda: subprocess.run([ECHOSCU, "127.0.0.1", "11112"], capture_output=True, timeout=20).returncode == 0,
                 timeout=15, what="echoscu on 11112")
        path = os.path.join(corpus_dir, "CT_small.dcm")
        result = subprocess.run([STORESCU, "-R", "127.0.0.1", "11112", path], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        uid = sop(path)
        stored = cwd / "data" / "objects" / "DICOM" / f"{uid}.dcm"
        assert stored.exists(), sorted(str(p) for p in (cwd / "data").rglob("*"))
        checks.check_part10(stored.read_bytes(), path, calling_ae="STORESCU", called_ae="ANY-SCP")
        assert (cwd / "data" / "objects" / "METADATA" / f"{uid}.json").exists()
        assert list((cwd / "data").glob("*.sqlite*")), "no embedded SQLite catalog under ./data"

        # Not a terminal: the generated token is in an owner-only file the log names, never in the log.
        token_file = cwd / "data" / "admin-token"
        assert str(token_file) in svc.log_text(), svc.log_text()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token not in svc.log_text()
        status, instance, _ = svc.request("GET", f"/v1/instances/{uid}", token=token)
        assert status == 200 and instance["objectUri"] == f"file://{stored}"
        status, _, _ = svc.request("GET", "/v1/listeners", token="wrong-token")
        assert status == 401
    finally:
        assert svc.stop() == 0, svc.log_text()


def test_seed_environment(binary, s3_settings, fresh_database_url, bucket, s3, corpus_dir, tmp_path):
    """A deployment of the seed switches by changing its image: its environment defines `default`."""
    data_dir = str(tmp_path / "seed")
    os.makedirs(data_dir)
    scp_port = free_port()
    env = service_env(s3_settings, fresh_database_url, data_dir,
                      SCP_PORT=str(scp_port), RECEIVE_BUCKET=bucket, DICOM_PREFIX="DICOM", METADATA_PREFIX="META",
                      ADD_STUDYUID_PREFIX="True", GZIP_FILES="True", GZIP_LEVEL="5", CREATE_METADATA="True",
                      CSTORE_DELAY_MS="0", S3_UPLOAD_WORKERS="10", BOTO_MAX_POOL_CONNECTIONS="50", DIMSE_TIMEOUT="30",
                      MAXIMUM_ASSOCIATIONS="20", MAXIMUM_PDU_SIZE="0", NETWORK_TIMEOUT="60", LOG_LEVEL="INFO")
    svc = Service(binary, env, data_dir, os.path.join(data_dir, "seed.log")).start()
    try:
        wait_for(lambda: subprocess.run([ECHOSCU, "127.0.0.1", str(scp_port)], capture_output=True, timeout=20).returncode == 0,
                 timeout=15, what="seed listener")
        path = os.path.join(corpus_dir, "MR_small.dcm")
        result = subprocess.run([STORESCU, "-R", "-aet", "SEEDSCU", "127.0.0.1", str(scp_port), path],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        key = f"DICOM/{ds.StudyInstanceUID}/{ds.SOPInstanceUID}.dcm"
        stored, content_type, encoding = checks.read_object(s3, bucket, key)
        assert (content_type, encoding) == ("application/dicom", "gzip")
        checks.check_part10(stored, path, calling_ae="SEEDSCU", called_ae="ANY-SCP")
        meta_key = f"META/{ds.StudyInstanceUID}/{ds.SOPInstanceUID}.json"
        _, json_type, _ = checks.read_object(s3, bucket, meta_key)
        assert json_type == "application/dicom+json"
        status, listeners, _ = svc.request("GET", "/v1/listeners", token=ADMIN_TOKEN, expect=200)
        default = [l for l in listeners["items"] if l["name"] == "default"]
        assert default and default[0]["port"] == scp_port and default[0]["storage"]["gzipLevel"] == 5
    finally:
        assert svc.stop() == 0, svc.log_text()
