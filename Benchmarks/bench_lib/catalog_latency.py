"""`scripts/bench --catalog-latency 0,1,2`: a PostgreSQL catalog across a network.

Every C-STORE waits for its catalog round trips before it answers (the slot read, the instance lock with
its read, the upsert, the unlock), so with PostgreSQL in another host or zone (RDS, Aurora, a database
server on the LAN: 0.2-2 ms per round trip) the round trips, not the CPU, set the pace of an association.
This section puts a loopback proxy that holds every PostgreSQL response back N ms (`latency_proxy.py`, the
same proxy as the S3 latency section; at 0 ms none) between dicom-ingest and its catalog, and sends the ct
corpus over 1 and 4 associations to:

  * the filesystem target with the PostgreSQL catalog (`ingest-fs-pg`) — until its last response;
  * the S3 target, `storage.ackMode: "stored"` (`ingest-s3`) — until its last response (= all in S3);
  * the S3 target, `storage.ackMode: "spooled"` (`ingest-s3-spooled`) — until its last response and,
    separately, until the last object is in S3.

S3 (moto) is reached directly. The figures go between the `catalog-latency` markers of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from . import corpus as corpusmod
from . import report, services as svcmod
from .latency import add_cell_arguments, cells, median_time, run_cell, write
from .latency_proxy import LatencyProxy
from .receivers import catalogue

SECTION_BEGIN = "<!-- catalog-latency:begin -->"
SECTION_END = "<!-- catalog-latency:end -->"
RECEIVERS = ["ingest-fs-pg", "ingest-s3", "ingest-s3-spooled"]


@dataclasses.dataclass
class ProxiedCatalog(svcmod.Services):
    """Databases created for the receivers are reached through the proxy on `proxy_port` (0: directly)."""

    proxy_port: int = 0

    def create_database(self, name: str) -> str:
        url = super().create_database(name)
        if not self.proxy_port:
            return url
        parts = urlsplit(url)
        credentials = parts.netloc.rsplit("@", 1)[0]
        return parts._replace(netloc=f"{credentials}@127.0.0.1:{self.proxy_port}").geturl()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench --catalog-latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalog-latency", required=True, help="comma list of response delays in ms, e.g. 0,1,2")
    add_cell_arguments(p, RECEIVERS)
    return p.parse_args(argv)


def render(rows: list[dict], command: str, started: str, machine: str, corpus_info: str, notes: list[str]) -> str:
    out = [SECTION_BEGIN, "### PostgreSQL latency: `scripts/bench --catalog-latency`", "",
           f"Run {started} UTC on {machine}; corpus ct {corpus_info}; command: `{command}`. Each PostgreSQL "
           "response is held back by the given delay (a loopback proxy in front of the server; at 0 ms no "
           "proxy); S3 (moto) is reached directly. *Last response*: from the first C-STORE until the last "
           "C-STORE-RSP; *to S3*: until the last object is in the bucket. Medians over the runs.", "",
           "| PostgreSQL delay | associations | fs + PostgreSQL: last response | S3 stored: last response "
           "| S3 spooled: last response | S3 spooled: to S3 |",
           "|---:|---:|---:|---:|---:|---:|"]
    for (delay, assoc), by in sorted(cells(rows).items()):
        def t(key: str, field: str) -> str:
            return median_time(by.get(key, {}), field)

        out.append(f"| {delay:g} ms | {assoc} | {t('ingest-fs-pg', 'response_seconds')} | "
                   f"{t('ingest-s3', 'response_seconds')} | {t('ingest-s3-spooled', 'response_seconds')} | "
                   f"{t('ingest-s3-spooled', 'seconds')} |")
    for r in rows:
        if not r["ok"]:
            notes.append(f"{r['receiver']} at {r['delay_ms']:g} ms, {r['associations']} associations failed: "
                         f"{r['error'][:200]}")
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    out += ["", SECTION_END, "", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    args = parse(argv)
    t0 = time.monotonic()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    command = " ".join(["scripts/bench", *(shlex.quote(x) for x in argv)])

    def say(msg: str) -> None:
        print(f"[catalog-latency {time.monotonic() - t0:5.0f}s] {msg}", flush=True)

    delays = [float(x) for x in args.catalog_latency.split(",") if x != ""]
    wanted = [r for r in args.receivers.split(",") if r]
    known = catalogue(Path(args.binary))
    for r in wanted:
        if r not in RECEIVERS:
            print(f"unknown receiver {r}; known here: {', '.join(RECEIVERS)}", file=sys.stderr)
            return 2
    if not Path(args.binary).exists():
        print(f"{args.binary} missing: build with `swift build -c release --static-swift-stdlib "
              "--product dicom-ingest`", file=sys.stderr)
        return 2
    work = Path(args.workdir)
    runs_root = work / "runs-catalog-latency"
    shutil.rmtree(runs_root, ignore_errors=True)
    runs_root.mkdir(parents=True)
    corp = corpusmod.ensure(corpusmod.ct_spec(args.ct), work / "corpus", log=say)
    corpus_info = f"{len(corp.files)} × {corp.total_bytes / len(corp.files) / 1e6:.2f} MB"
    notes: list[str] = []
    rows: list[dict] = []
    services = svcmod.start(work / "services-catalog-latency")
    try:
        server = urlsplit(services.postgres_url)
        for position, delay in enumerate(delays):
            cell_root = runs_root / f"{position}-{delay:g}ms"
            cell_root.mkdir()
            proxy = LatencyProxy(server.hostname, server.port, delay).start() if delay > 0 else None
            proxied = ProxiedCatalog(**{f.name: getattr(services, f.name) for f in dataclasses.fields(svcmod.Services)},
                                     proxy_port=proxy.port if proxy is not None else 0)
            try:
                rows += run_cell(args, known, wanted, corp, proxied, cell_root, delay, say,
                                 lambda res: f"last response {res.response_seconds:.2f} s, "
                                             f"done {res.seconds:.2f} s ({res.rate:.1f}/s)")
            finally:
                if proxy is not None:
                    proxy.stop()
    finally:
        svcmod.stop(services)
        shutil.rmtree(runs_root, ignore_errors=True)
    (work / "results-catalog-latency.json").write_text(json.dumps(rows, indent=1))
    section = render(rows, command, started, report.machine_line(), corpus_info, notes)
    print()
    print(section)
    if args.out:
        write(Path(args.out), section, SECTION_BEGIN, SECTION_END)
        say(f"figures written to {args.out}")
    return 0 if rows and all(r["ok"] for r in rows) else 1
