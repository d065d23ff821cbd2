"""`scripts/bench forward`: what the forwarder of a `spooled` listener costs, apart from the receive.

In the S3 latency section the receive and the forward run at once, so the receiver's CPU per instance is
their sum. Here they are taken apart, with the same receiver, corpus and emulator as that section:

  1. `dicom-ingest serve` with a `spooled` S3 listener (PostgreSQL catalog, gzip, JSON metadata); its bucket
     is deleted before the send, so every forward fails (NoSuchBucket) and the N ct instances stay spooled.
  2. The service is stopped (SIGTERM), the bucket created, and the retry times the failed attempts set are
     left to pass.
  3. The same service starts again on the same data folder and catalog: recovery forwards the N instances.
     Measured: its CPU until all 2N objects are listed in the bucket, less the CPU of an idle start (the
     same service started once more afterwards, with nothing spooled, over the same span), and the
     emulator's CPU. With `--perf`, `perf record` of the drain, and its samples by library and by the
     steps that are most of it.

Beside each drain, the same corpus over one association to the filesystem target with the PostgreSQL
catalog (`ingest-fs-pg`): the receive a `spooled` listener does too (the same file writes, `fsync`s and
catalog commit), so the two figures add up to what a `spooled` instance costs the receiver; and to the S3
target with `ackMode: "stored"` (`ingest-s3`), which receives and uploads in one, for comparison.

The drain's time depends on the backoff of the attempts before the restart and is printed for information
only; the figures are CPU per instance.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import corpus as corpusmod
from . import procstat, report, services as svcmod
from .receivers import catalogue
from .runner import run_once, send, wait_landed


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench forward", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ct", type=int, default=150, help="ct instances spooled and forwarded per run (default 150)")
    p.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    p.add_argument("--binary", default=str(Path(__file__).resolve().parents[2] / ".build" / "release" / "dicom-ingest"))
    p.add_argument("--workdir", default="/tmp/dicom-ingest-bench", help="corpus, receiver output, state")
    p.add_argument("--perf", action="store_true", help="perf record each drain and print where its samples are")
    return p.parse_args(argv)


def _perf_shares(data: Path, pid: int) -> dict[str, float]:
    """Shares of the service's samples in the drain: ISA-L, SHA-256, the kernel, the rest."""
    out = subprocess.run(["perf", "report", "-i", str(data), "--pid", str(pid), "--no-children", "--sort", "dso,sym",
                          "-g", "none", "-q", "--percent-limit", "0"], capture_output=True, text=True, timeout=300).stdout
    shares = {"ISA-L (gzip)": 0.0, "SHA-256": 0.0, "kernel": 0.0, "rest": 0.0}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].endswith("%"):
            continue
        pct = float(parts[0].rstrip("%"))
        dso, sym = parts[1], " ".join(parts[2:])
        if "libisal" in dso:
            shares["ISA-L (gzip)"] += pct
        elif "sha256" in sym.lower():
            shares["SHA-256"] += pct
        elif dso == "[kernel.kallsyms]":
            shares["kernel"] += pct
        else:
            shares["rest"] += pct
    # The report's percentages are of every process's samples: the service's own add up to 100.
    total = sum(shares.values())
    return {k: 100.0 * v / total for k, v in shares.items()} if total > 0 else shares


def one_run(args, binary: Path, corp, services, root: Path, run: int, say) -> dict:
    rec = catalogue(binary)["ingest-s3-spooled"]()
    rec.start(root / f"run{run}", services)
    try:
        services.delete_bucket(rec.bucket)
        elapsed, errors = send(corp, 1, rec.port, root / f"run{run}", 600)
        if errors:
            raise RuntimeError(f"send failed: {errors[:3]}")
        rec.stop()
        services.create_bucket(rec.bucket)
        # The attempts made while the bucket was missing set retry times up to a few seconds ahead.
        time.sleep(6.0)
        expected = 2 * len(corp.files)
        perf = None
        if args.perf:
            data = root / f"perf-{run}.data"
            # System-wide from before the start, filtered to the service's pid in the report: `-p` would miss
            # the threads the service starts after perf attaches, and the drain begins as it starts.
            perf = subprocess.Popen(["perf", "record", "-a", "-e", "cpu-clock", "-F", "999", "-g", "-o", str(data)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        moto0 = procstat.cpu_ms(services.moto_pid)
        rec.respawn()
        pid = rec.pid
        started = time.monotonic()
        landed = wait_landed(rec, expected, started, 300) >= expected
        seconds = time.monotonic() - started
        drain_cpu = procstat.cpu_ms(pid)
        moto_cpu = procstat.cpu_ms(services.moto_pid) - moto0
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        if not landed:
            raise RuntimeError(f"not every object landed within 300 s:\n{rec.log_tail()}")
        rec.stop()
        # The same start with nothing spooled, over the same span: start-up, recovery, the idle forwarder.
        rec.respawn()
        rec.wait_ready(30)
        time.sleep(max(0.0, seconds - 0.2))
        idle_cpu = procstat.cpu_ms(rec.pid)
        forward_cpu = drain_cpu - idle_cpu
        row = {"run": run, "instances": len(corp.files), "drain_seconds": seconds, "drain_cpu_ms": drain_cpu,
               "idle_cpu_ms": idle_cpu, "forward_ms_per_instance": forward_cpu / len(corp.files),
               "moto_cpu_ms": moto_cpu, "send_seconds": elapsed}
        if perf is not None:
            row["perf"] = _perf_shares(root / f"perf-{run}.data", pid)
        say(f"run {run}: drain {seconds:.2f} s, receiver {drain_cpu:.0f} ms less idle start {idle_cpu:.0f} ms = "
            f"{row['forward_ms_per_instance']:.2f} ms per forwarded instance; emulator {moto_cpu:.0f} ms"
            + (f"; samples {json.dumps({k: round(v, 1) for k, v in row['perf'].items()})}" if perf else ""))
        return row
    finally:
        rec.stop()
        rec.cleanup(services)


def cpu_per_instance(binary: Path, key: str, corp, services, root: Path, run: int, say) -> float:
    """Receiver CPU per instance of receiver `key` over one association."""
    rec = catalogue(binary)[key]()
    res = run_once(rec, corp, 1, run, services, root / f"{key}-run{run}", 600)
    if not res.ok:
        raise RuntimeError(f"{key} run failed: {res.error}")
    per = res.cpu_ms / res.instances
    say(f"run {run}: {key}, {per:.2f} ms per instance")
    return per


def main(argv: list[str]) -> int:
    args = parse(argv)
    binary = Path(args.binary)
    if not binary.exists():
        print(f"{binary} missing: build with `swift build -c release --static-swift-stdlib --product dicom-ingest`",
              file=sys.stderr)
        return 2
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[forward {time.monotonic() - t0:5.0f}s] {msg}", flush=True)

    work = Path(args.workdir)
    root = work / "runs-forward"
    # Each run's data folder (and spool) starts empty: a previous invocation's would be drained as well.
    shutil.rmtree(root, ignore_errors=True)
    corp = corpusmod.ensure(corpusmod.ct_spec(args.ct), work / "corpus", log=say)
    services = svcmod.start(work / "services-forward")
    rows = []
    try:
        for run in range(1, args.runs + 1):
            row = one_run(args, binary, corp, services, root, run, say)
            row["receive_ms_per_instance"] = cpu_per_instance(binary, "ingest-fs-pg", corp, services, root, run, say)
            row["stored_ms_per_instance"] = cpu_per_instance(binary, "ingest-s3", corp, services, root, run, say)
            rows.append(row)
    finally:
        svcmod.stop(services)
    print()
    print(report.machine_line())
    for key, what in (("receive_ms_per_instance", "receive (filesystem target + PostgreSQL)"),
                      ("forward_ms_per_instance", "forward (S3, gzip, JSON metadata)"),
                      ("stored_ms_per_instance", "`stored` (receive and upload in one; S3, gzip, JSON metadata)")):
        per = [r[key] for r in rows]
        print(f"{what}: {statistics.median(per):.2f} ms receiver CPU per instance "
              f"(median of {len(per)}; {min(per):.2f}-{max(per):.2f}), {args.ct} ct")
    (work / "results-forward.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
