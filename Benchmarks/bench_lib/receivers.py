"""The receivers under test. Each run starts a fresh receiver process (so its peak RSS and CPU belong to
that run alone), sends, waits until everything is durable, measures, stops it and removes what it stored."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import services as svcmod
from .services import Services

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
AE = "BENCH"
ECHOSCU = "/usr/bin/echoscu"


def count_files(directory: Path, suffix: str | tuple[str, ...] | None = None) -> int:
    total = 0
    for _root, _dirs, files in os.walk(directory):
        total += sum(1 for f in files if suffix is None or f.endswith(suffix))
    return total


def wait_echo(port: int, timeout: float, proc: subprocess.Popen) -> None:
    """Wait until a C-ECHO succeeds (a bare TCP probe would cost the receiver an aborted association)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited with {proc.returncode} before answering C-ECHO")
        r = subprocess.run([ECHOSCU, "-aec", AE, "-to", "2", "127.0.0.1", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        if r.returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"no C-ECHO answer on port {port} after {timeout} s")


@dataclass
class Receiver:
    """Base: subclasses set key/label and implement start(), durable_count()."""

    key: str
    label: str
    asynchronous: bool = False  # acknowledges before durable: time until objects land, not until responses
    tree: bool = False  # forks per association: measure the process tree
    objects_per_instance: int = 1
    max_associations: int = 32
    proc: subprocess.Popen | None = None
    port: int = 0
    workdir: Path | None = None
    log_path: Path | None = None
    extra_pids: list[int] = field(default_factory=list)

    def start(self, workdir: Path, services: Services | None) -> None:
        raise NotImplementedError

    def durable_count(self) -> int:
        """Objects durable so far (files or bucket objects), divided by objects_per_instance by the caller."""
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _spawn(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
               append: bool = False) -> None:
        assert self.workdir is not None
        self._command = (args, env, cwd)
        self.log_path = self.workdir / f"{self.key}.log"
        log = open(self.log_path, "ab" if append else "wb")
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()

    def respawn(self) -> None:
        """Start the process of the last `start` again, same arguments and environment, after `stop`."""
        args, env, cwd = self._command
        self._spawn(args, env=env, cwd=cwd, append=True)

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:]) if self.log_path else ""
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self, services: Services | None) -> None:
        # What a run wrote to disk stays until the whole benchmark ends (main.py removes runs/ then).
        # Deleting thousands of files between runs made the next run pay for it: this machine's ext4 has
        # no journal, and then every new inode is checked against the recently deleted ones of its block
        # group (ext4 `recently_deleted`, up to 60-360 s after a delete), so whoever ran right after a
        # cleanup spent a large share of its CPU in the kernel scanning inode tables. tmpfs output is
        # memory and is still freed at once by the subclasses.
        pass


# --- DCMTK storescp ---------------------------------------------------------------------------------------

@dataclass
class DcmtkStorescp(Receiver):
    """`storescp --fork -od DIR +xa PORT`: one process per association, like a deployment that must accept
    parallel associations. tmpfs=True writes to /dev/shm (the anchor of the listener ratio)."""

    tmpfs: bool = False
    outdir: Path | None = None

    def start(self, workdir: Path, services: Services | None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        if self.tmpfs:
            self.outdir = Path("/dev/shm") / f"dicom-ingest-bench-{os.getpid()}-{workdir.name}"
        else:
            self.outdir = workdir / "out"
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.port = svcmod.free_port()
        self._spawn(["/usr/bin/storescp", "--fork", "-aet", AE, "+xa", "-od", str(self.outdir), str(self.port)],
                    env=svcmod.env_with({"TCP_NODELAY": "1"}))
        wait_echo(self.port, 15, self.proc)

    def durable_count(self) -> int:
        assert self.outdir is not None
        return count_files(self.outdir)

    def cleanup(self, services: Services | None) -> None:
        if self.outdir and self.tmpfs:
            shutil.rmtree(self.outdir, ignore_errors=True)
        super().cleanup(services)


# --- reference design: pynetdicom + boto3 -------------------------------------------------------------------

@dataclass
class Reference(Receiver):
    bucket: str = ""
    services: Services | None = None

    def start(self, workdir: Path, services: Services | None) -> None:
        assert services is not None
        self.workdir, self.services = workdir, services
        workdir.mkdir(parents=True, exist_ok=True)
        self.bucket = f"ref-{workdir.name}".lower().replace("_", "-")[:63]
        services.create_bucket(self.bucket)
        self.port = svcmod.free_port()
        env = svcmod.env_with({**services.aws_env(), "SCP_PORT": str(self.port), "AE_TITLE": AE,
                               "RECEIVE_BUCKET": self.bucket, "GZIP_FILES": "true", "GZIP_LEVEL": "5",
                               "CREATE_METADATA": "true", "S3_UPLOAD_WORKERS": "10",
                               "MAXIMUM_ASSOCIATIONS": str(self.max_associations),
                               "DICOM_PREFIX": "dicom", "METADATA_PREFIX": "metadata"})
        self._spawn([sys.executable, str(HERE / "reference_receiver.py")], env=env)
        wait_echo(self.port, 30, self.proc)

    def durable_count(self) -> int:
        assert self.services is not None
        return self.services.count_objects(self.bucket)

    def cleanup(self, services: Services | None) -> None:
        if services and self.bucket:
            services.delete_bucket(self.bucket)
        super().cleanup(services)


# --- dicom-ingest -------------------------------------------------------------------------------------------

@dataclass
class DicomIngest(Receiver):
    """`dicom-ingest serve` + one listener created over REST.

    backend: "filesystem" (catalog: embedded SQLite) or "s3" (catalog: PostgreSQL, a fresh database per run).
    """

    binary: Path = ROOT / ".build" / "release" / "dicom-ingest"
    backend: str = "filesystem"
    gzip: bool = False
    gzip_level: int | None = None
    metadata: bool = True
    catalog: str = "sqlite"  # "sqlite" | "postgres"
    token: str = "bench-admin-token"
    http_port: int = 0
    bucket: str = ""
    database: str = ""
    storage_path: Path | None = None
    services: Services | None = None
    ack_mode: str | None = None  # storage.ackMode: "stored" (the server default) or "spooled"
    tmpfs: bool = False  # data folder (SQLite) and objects on /dev/shm: the listener ratio
    shm: Path | None = None

    def _http(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"body": raw.decode(errors="replace")}

    def start(self, workdir: Path, services: Services | None) -> None:
        if not self.binary.exists():
            raise RuntimeError(f"{self.binary} not found: run `swift build -c release --product dicom-ingest`")
        self.workdir, self.services = workdir, services
        workdir.mkdir(parents=True, exist_ok=True)
        self.http_port = svcmod.free_port()
        base = workdir
        if self.tmpfs:
            self.shm = base = Path("/dev/shm") / f"dicom-ingest-bench-{os.getpid()}-{workdir.name}"
            base.mkdir(parents=True, exist_ok=True)
        env = {"DICOM_INGEST_HTTP_HOST": "127.0.0.1", "DICOM_INGEST_HTTP_PORT": str(self.http_port),
               "DICOM_INGEST_DATA_DIR": str(base / "data"), "DICOM_INGEST_ADMIN_TOKENS": self.token,
               "DICOM_INGEST_LOG_LEVEL": "warning", "LOG_LEVEL": "warning",
               # The objects folder sits beside the data folder: allow both (the default root is the data folder).
               "DICOM_INGEST_STORAGE_ROOTS": str(base)}
        if self.catalog == "postgres":
            assert services is not None
            self.database = f"bench_{workdir.name}".lower().replace("-", "_")[:60]
            env["DICOM_INGEST_DATABASE_URL"] = services.create_database(self.database)
        if services is not None:
            env.update(services.aws_env())
        full_env = dict(os.environ)
        for k in ("SCP_PORT", "RECEIVE_BUCKET", "RECEIVE_BUCKET_NAME", "DICOM_INGEST_DATABASE_URL"):
            full_env.pop(k, None)
        full_env.update(env)
        self._spawn([str(self.binary), "serve"], env=full_env, cwd=workdir)
        self._wait_http(30)

        storage: dict = {"backend": self.backend, "gzip": self.gzip, "createMetadata": self.metadata}
        if self.gzip_level is not None:
            storage["gzipLevel"] = self.gzip_level
        if self.ack_mode is not None:
            storage["ackMode"] = self.ack_mode
        if self.backend == "filesystem":
            self.storage_path = base / "objects"
            storage["path"] = str(self.storage_path)
        else:
            assert services is not None
            self.bucket = f"ing-{workdir.name}".lower().replace("_", "-")[:63]
            services.create_bucket(self.bucket)
            storage.update({"bucket": self.bucket, "region": services.region, "endpoint": services.s3_endpoint})
        self.port = svcmod.free_port()
        status, doc = self._http("POST", "/v1/listeners", {
            "name": "bench", "port": self.port, "bindAddress": "127.0.0.1", "aeTitle": AE,
            "storage": storage, "limits": {"maxAssociations": self.max_associations}})
        if status not in (200, 201):
            raise RuntimeError(f"POST /v1/listeners -> {status}: {doc}")
        listener_id = doc.get("id")
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            status, doc = self._http("GET", f"/v1/listeners/{listener_id}")
            state = doc.get("state")
            if state == "running":
                break
            if state == "failed":
                raise RuntimeError(f"listener failed: {doc}")
            time.sleep(0.1)
        if state != "running":
            raise RuntimeError(f"listener not running after 20 s: {doc}")
        wait_echo(self.port, 15, self.proc)

    def wait_ready(self, timeout: float) -> None:
        """After `respawn`: REST up and the listener answering C-ECHO again."""
        self._wait_http(timeout)
        wait_echo(self.port, timeout, self.proc)

    def _wait_http(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dicom-ingest exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise TimeoutError(f"dicom-ingest REST not up after {timeout} s:\n{self.log_tail()}")

    def durable_count(self) -> int:
        if self.backend == "filesystem":
            assert self.storage_path is not None
            return count_files(self.storage_path, (".dcm", ".dcm.gz")) * self.objects_per_instance
        assert self.services is not None
        return self.services.count_objects(self.bucket)

    def cleanup(self, services: Services | None) -> None:
        if services and self.bucket:
            services.delete_bucket(self.bucket)
        if services and self.database:
            services.drop_database(self.database)
        if self.shm:
            shutil.rmtree(self.shm, ignore_errors=True)
        super().cleanup(services)


def catalogue(binary: Path) -> dict[str, "callable"]:
    """Every receiver configuration the harness knows, by key (fresh instances on each call)."""

    def ingest(key: str, label: str, **kw):
        return lambda: DicomIngest(key=key, label=label, binary=binary, **kw)

    return {
        "dcmtk": lambda: DcmtkStorescp(key="dcmtk", label="DCMTK storescp (disk)", tree=True),
        "dcmtk-tmpfs": lambda: DcmtkStorescp(key="dcmtk-tmpfs", label="DCMTK storescp (tmpfs)", tree=True,
                                             tmpfs=True),
        "reference": lambda: Reference(key="reference", label="reference pynetdicom+boto3 (S3, gzip 5)",
                                       asynchronous=True, objects_per_instance=2),
        "ingest-fs": ingest("ingest-fs", "dicom-ingest fs+SQLite, meta, no gzip"),
        "ingest-tmpfs": ingest("ingest-tmpfs", "dicom-ingest fs+SQLite on tmpfs, no meta, no gzip", metadata=False,
                               tmpfs=True),
        "ingest-fs-gzip": ingest("ingest-fs-gzip", "dicom-ingest fs+SQLite, meta, gzip", gzip=True),
        "ingest-fs-nometa": ingest("ingest-fs-nometa", "dicom-ingest fs+SQLite, no meta, no gzip", metadata=False),
        "ingest-fs-pg": ingest("ingest-fs-pg", "dicom-ingest fs+PostgreSQL, meta, no gzip", catalog="postgres"),
        "ingest-s3": ingest("ingest-s3", "dicom-ingest S3+PostgreSQL, meta, gzip", backend="s3", gzip=True,
                            catalog="postgres", objects_per_instance=2),
        "ingest-s3-nogzip": ingest("ingest-s3-nogzip", "dicom-ingest S3+PostgreSQL, meta, no gzip", backend="s3",
                                   catalog="postgres", objects_per_instance=2),
        "ingest-s3-spooled": ingest("ingest-s3-spooled", "dicom-ingest S3+PostgreSQL, meta, gzip, spooled ack",
                                    backend="s3", gzip=True, catalog="postgres", objects_per_instance=2,
                                    ack_mode="spooled", asynchronous=True),
        "ingest-s3-nometa": ingest("ingest-s3-nometa", "dicom-ingest S3+PostgreSQL, no meta, gzip", backend="s3",
                                   gzip=True, metadata=False, catalog="postgres"),
    }
