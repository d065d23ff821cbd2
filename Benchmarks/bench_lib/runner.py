"""One measured run: fresh receiver, DCMTK storescu over N associations, wait until durable, measure."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import procstat
from .corpus import Corpus
from .profile import Profiler
from .receivers import AE, Receiver
from .services import Services

STORESCU = "/usr/bin/storescu"  # full path: pynetdicom installs its own `storescu` earlier on PATH


@dataclass
class RunResult:
    receiver: str
    corpus: str
    associations: int
    run: int
    ok: bool
    error: str = ""
    instances: int = 0
    bytes: int = 0
    seconds: float = 0.0  # send start -> all durable (async receivers: last object landed)
    response_seconds: float = 0.0  # send start -> last storescu exited
    peak_rss_kib: int = 0
    cpu_ms: float = 0.0  # receiver (process tree for forking receivers)
    moto_cpu_ms: float = 0.0
    postgres_cpu_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.instances / self.seconds if self.ok and self.seconds > 0 else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.ok and self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(rate=self.rate, mbps=self.mbps)
        return d


def _cpu(receiver: Receiver) -> float:
    return procstat.tree_cpu_ms(receiver.pid) if receiver.tree else procstat.cpu_ms(receiver.pid)


def send(corpus: Corpus, associations: int, port: int, logdir: Path, timeout: float,
         sender_nagle: bool = False) -> tuple[float, list[str]]:
    """Run one /usr/bin/storescu per group concurrently; returns (seconds until the last exits, errors).

    sender_nagle: leave storescu as DCMTK ships it (Nagle on) instead of TCP_NODELAY=1. A receiver that delays
    its ACKs then costs such a sender up to 40 ms per instance; the default measures the receivers' work."""
    env = dict(os.environ)
    env.pop("TCP_NODELAY", None)
    if not sender_nagle:
        env["TCP_NODELAY"] = "1"
    procs = []
    t0 = time.monotonic()
    for i, group in enumerate(corpus.groups(associations)):
        log = open(logdir / f"storescu-{i}.log", "wb")
        args = [STORESCU, "-aet", "BENCHSCU", "-aec", AE, "-R", "-nh", "127.0.0.1", str(port),
                *map(str, group)]
        procs.append((subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT), log, i))
    errors = []
    deadline = t0 + timeout
    for p, log, i in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            errors.append(f"storescu #{i} timed out after {timeout:.0f} s")
        log.close()
    elapsed = time.monotonic() - t0
    for p, _log, i in procs:
        if p.returncode not in (0, None) and not errors:
            tail = (logdir / f"storescu-{i}.log").read_text(errors="replace").strip().splitlines()[-3:]
            errors.append(f"storescu #{i} exit {p.returncode}: {' | '.join(tail)}")
    return elapsed, errors


def wait_landed(receiver: Receiver, expected: int, t0: float, timeout: float) -> int:
    """Polls the receiver's store until `expected` objects have landed, the receiver exits, or `timeout` seconds
    from `t0` pass; returns the objects landed at the last poll."""
    deadline = t0 + timeout
    landed = 0
    while time.monotonic() < deadline:
        landed = receiver.durable_count()
        if landed >= expected or receiver.proc.poll() is not None:
            break
        # Listing costs the emulator CPU (counted in its figure), so polls are few; each waits half the time
        # the objects still missing take at the pace seen so far (20-250 ms), so the last poll comes at most
        # ~20 ms after the last object lands, whatever the pace.
        waited = time.monotonic() - t0
        pace = landed / waited if waited > 0 else 0.0
        remaining = (expected - landed) / pace if pace > 0 else 0.25
        time.sleep(min(0.25, max(0.02, remaining / 2)))
    return landed


def run_once(receiver: Receiver, corpus: Corpus, associations: int, run: int, services: Services | None,
             workroot: Path, timeout: float, profile_out: Path | None = None, sender_nagle: bool = False) -> RunResult:
    res = RunResult(receiver.key, corpus.name, associations, run, ok=False,
                    instances=len(corpus.files), bytes=corpus.total_bytes)
    workdir = workroot / f"{receiver.key}-{corpus.name}-a{associations}-r{run}"
    postgres_pid = services.postgres_pid() if services else None
    memory = None
    try:
        receiver.max_associations = max(32, 2 * associations)
        receiver.start(workdir, services)
        cpu0 = _cpu(receiver)
        moto0 = procstat.cpu_ms(services.moto_pid) if services else 0.0
        pg0 = procstat.tree_cpu_ms(postgres_pid) if postgres_pid else 0.0
        memory = procstat.PeakMemory(receiver.pid, tree=receiver.tree)
        memory.__enter__()
        profiler = None
        if profile_out is not None:
            profiler = Profiler(receiver.pid, profile_out)
            time.sleep(0.5)  # let perf attach
        t0 = time.monotonic()
        elapsed, errors = send(corpus, associations, receiver.port, workdir, timeout, sender_nagle=sender_nagle)
        res.response_seconds = elapsed
        expected = len(corpus.files) * receiver.objects_per_instance
        if receiver.asynchronous and not errors:
            landed = wait_landed(receiver, expected, t0, timeout)
            res.seconds = time.monotonic() - t0
            if receiver.proc.poll() is not None and landed < expected:
                errors.append(f"receiver exited with {receiver.proc.returncode}")
            if landed < expected:
                errors.append(f"only {landed}/{expected} objects landed within {timeout:.0f} s")
        else:
            res.seconds = elapsed
        if profiler is not None:
            profiler.stop()
        if receiver.tree:
            time.sleep(0.3)  # let forked children be reaped, so their CPU is counted
        res.peak_rss_kib = memory.stop()
        res.cpu_ms = _cpu(receiver) - cpu0
        res.moto_cpu_ms = (procstat.cpu_ms(services.moto_pid) - moto0) if services else 0.0
        res.postgres_cpu_ms = (procstat.tree_cpu_ms(postgres_pid) - pg0) if postgres_pid else 0.0
        if not errors and not receiver.asynchronous:
            stored = receiver.durable_count()
            if stored != expected:
                errors.append(f"{stored}/{expected} objects stored after all responses")
        res.ok = not errors
        res.error = "; ".join(errors)
    except Exception as e:  # a receiver that cannot start is a failed cell, not a crashed harness
        res.error = f"{type(e).__name__}: {e}"
        tail = receiver.log_tail(5)
        if tail:
            res.error += f" | log: {tail[-400:]}"
    finally:
        if memory is not None:
            memory.stop()
        receiver.stop()
        receiver.cleanup(services)
    return res
