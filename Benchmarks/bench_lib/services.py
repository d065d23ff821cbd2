"""PostgreSQL + moto S3 for the benchmark (started with scripts/services into the bench state folder)."""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Services:
    state: Path
    postgres_url: str  # .../dicom_ingest_test
    s3_endpoint: str
    access_key: str
    secret_key: str
    region: str
    moto_pid: int
    started_here: bool

    def s3(self):
        return boto3.client(
            "s3", endpoint_url=self.s3_endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(max_pool_connections=4, retries={"max_attempts": 3}),
        )

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
        }

    # --- buckets -------------------------------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        self.s3().create_bucket(Bucket=name)

    def count_objects(self, bucket: str) -> int:
        # One client for every poll: building a boto3 client costs tens of milliseconds of the harness's
        # CPU, on the cores the receiver being timed runs on.
        client = getattr(self, "_listing_client", None)
        if client is None:
            client = self.s3()
            self._listing_client = client
        total, token = 0, None
        for _ in range(10_000):
            kw = {"Bucket": bucket, "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            page = client.list_objects_v2(**kw)
            total += page.get("KeyCount", 0)
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        return total

    def delete_bucket(self, bucket: str) -> None:
        """Empty and delete a bucket (moto keeps objects in memory and in its temp folder)."""
        client = self.s3()
        try:
            for _ in range(10_000):
                page = client.list_objects_v2(Bucket=bucket, MaxKeys=1000)
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if not keys:
                    break
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            for _ in range(100):
                ups = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                if not ups:
                    break
                for u in ups:
                    client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            client.delete_bucket(Bucket=bucket)
        except client.exceptions.NoSuchBucket:
            pass

    # --- databases -----------------------------------------------------------------------------------
    def _admin_url(self) -> str:
        return self.postgres_url.rsplit("/", 1)[0] + "/postgres"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.postgres_url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def postgres_pid(self) -> int | None:
        pg_data = self._env.get("TEST_PG_DATA")
        try:
            return int(Path(pg_data, "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, TypeError, IndexError):
            return None

    _env: dict = field(default_factory=dict)


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            k, v = parts[1].split("=", 1)
            out[k] = v
    return out


def start(state: Path) -> Services:
    """Start a private PostgreSQL + moto with scripts/services (stopped by stop())."""
    state.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(ROOT / "scripts" / "services"), "start", str(state)], check=True,
                   stdout=subprocess.DEVNULL, timeout=180)
    env = _read_env(state / "env")
    svc = Services(
        state=state, postgres_url=env["TEST_POSTGRES_URL"], s3_endpoint=env["TEST_S3_ENDPOINT"],
        access_key=env["TEST_S3_ACCESS_KEY_ID"], secret_key=env["TEST_S3_SECRET_ACCESS_KEY"],
        region=env["TEST_S3_REGION"], moto_pid=int(env["TEST_MOTO_PID"]), started_here=True,
    )
    svc._env = env
    return svc


def stop(svc: Services | None) -> None:
    if svc is not None and svc.started_here:
        subprocess.run([str(ROOT / "scripts" / "services"), "stop", str(svc.state)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def env_with(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
