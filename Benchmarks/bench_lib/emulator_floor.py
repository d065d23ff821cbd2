"""The S3 latency section's bound: how fast the emulator takes the cell's objects with no receiver at all.

Every receiver of a cell puts the same 2 objects per instance into the same emulator (moto, one Python
process) on the same cores. Here a client process of the harness alone puts the objects a `spooled` listener
writes (each ct Part10 gzipped at level 1, and its DICOM JSON gzipped too) through the cell's latency proxy,
with as many requests in flight as the forwarder (32), and times it; nothing else runs. No receiver can land a cell's objects sooner
than this, so `reference time ÷ this time` is the largest ratio any receiver can reach against the reference
in the cell; the section prints it beside the goal of 3×. The emulator's CPU is measured as well: it is what
every receiver's run also spends, on the cores that receiver shares with it.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydicom import dcmread

from . import procstat

BUCKET = "emulator-floor"
IN_FLIGHT = 32


def write_bodies(files: list[Path], folder: Path) -> Path:
    """The objects a `spooled` listener with gzip and metadata writes for `files`, one file each in `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for n, path in enumerate(files):
        (folder / f"{n:06d}.dcm").write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
        meta = dcmread(path, stop_before_pixels=True).to_json_dict(bulk_data_threshold=1024,
                                                                    bulk_data_element_handler=lambda _el: "")
        (folder / f"{n:06d}.json").write_bytes(gzip.compress(json.dumps(meta).encode(), compresslevel=1))
    return folder


def measure(services, endpoint: str, folder: Path, run: int, delay_ms: float) -> dict:
    """One put of every object of `folder` through `endpoint` (the cell's proxy, or the emulator at 0 ms).
    The client is a process of its own: in the harness's process it would share one interpreter lock with
    the latency proxy. Returns seconds, the emulator's CPU and the client's."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "AWS_ACCESS_KEY_ID": services.access_key, "AWS_SECRET_ACCESS_KEY": services.secret_key,
           "AWS_DEFAULT_REGION": services.region}
    done = subprocess.run([sys.executable, "-m", "bench_lib.emulator_floor", endpoint, str(folder),
                           str(services.moto_pid)], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"emulator floor client failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout) | {"delay_ms": delay_ms, "run": run}


def _put_all(endpoint: str, folder: Path, moto_pid: int) -> dict:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint,
                          config=Config(max_pool_connections=IN_FLIGHT, retries={"max_attempts": 3}))
    # botocore asks for `100 Continue` before every PUT body, a second round trip through the proxy; the
    # floor is what the emulator needs, so the body goes with the request, as dicom-ingest sends it.
    client.meta.events.register("before-send.s3.PutObject", _without_expect)
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    objects = [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    moto0 = procstat.cpu_ms(moto_pid)
    own0 = os.times()
    t0 = time.monotonic()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        list(pool.map(lambda kb: client.put_object(Bucket=BUCKET, Key=kb[0], Body=kb[1]), objects))
    seconds = time.monotonic() - t0
    own1 = os.times()
    moto_cpu_ms = procstat.cpu_ms(moto_pid) - moto0
    # Emptied outside the timing, so every run starts from the same bucket.
    keys = [{"Key": k} for k, _ in objects]
    for start in range(0, len(keys), 1000):
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
    return {"objects": len(objects), "seconds": seconds, "moto_cpu_ms": moto_cpu_ms,
            "client_cpu_ms": (own1.user + own1.system - own0.user - own0.system) * 1000.0}


def _without_expect(request, **_kwargs) -> None:
    request.headers.pop("Expect", None)


if __name__ == "__main__":
    print(json.dumps(_put_all(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))
