"""`scripts/bench --s3-latency 0,50,150`: one association's worth of S3 latency.

DIMSE senders wait for each C-STORE-RSP before sending the next instance, so a receiver that answers after
its S3 PUTs lands at most one instance per round trip on an association. This section puts a loopback proxy
that holds every S3 response back N ms (`latency_proxy.py`) between each receiver and the emulator (at 0 ms
none: the receivers talk to the emulator directly) and sends the ct corpus over 1 and 4 associations to:

  * the reference design (pynetdicom + boto3: answers at once, uploads later) — until its last object lands;
  * dicom-ingest with `storage.ackMode: "stored"` — answers after S3 and the catalog;
  * dicom-ingest with `storage.ackMode: "spooled"` — answers after the durable local spool and the catalog,
    forwards to S3 in the background; measured until the last object is in S3 and, separately, until the
    last C-STORE response;
  * dicom-ingest's filesystem target — its last response, the pace `spooled` answers are held to; it never
    talks to S3, so the delay does not apply to it. Twice: with SQLite, as in the main table, and with
    PostgreSQL, the catalog of the S3 receivers (so that the spool and the filesystem target differ only in
    the spool's forward).

Objects are counted directly at the emulator (not through the proxy). At each delay the harness also puts
the objects a `spooled` run writes with no receiver at all (`emulator_floor.py`): the least time any receiver
needs in the cell, hence the largest ratio to the reference it can reach. The figures go between the
`s3-latency` markers of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from . import corpus as corpusmod
from . import emulator_floor, report, services as svcmod
from .latency_proxy import LatencyProxy
from .receivers import ROOT, catalogue
from .runner import run_once

SECTION_BEGIN = "<!-- s3-latency:begin -->"
SECTION_END = "<!-- s3-latency:end -->"
RECEIVERS = ["reference", "ingest-s3", "ingest-s3-spooled", "ingest-fs", "ingest-fs-pg"]


@dataclasses.dataclass
class ProxiedServices(svcmod.Services):
    """The receivers see the proxy as their S3 endpoint; the harness counts objects at the emulator."""

    direct_endpoint: str = ""

    def s3(self):
        return boto3.client(
            "s3", endpoint_url=self.direct_endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(max_pool_connections=4, retries={"max_attempts": 3}),
        )


def add_cell_arguments(p: argparse.ArgumentParser, receivers: list[str]) -> None:
    """The options every latency section shares (besides its own list of delays)."""
    p.add_argument("--ct", type=int, default=150, help="ct instances (default 150)")
    p.add_argument("--associations", default="1,4", help="comma list (default 1,4)")
    p.add_argument("--receivers", default=",".join(receivers), help="comma list of " + ", ".join(receivers))
    p.add_argument("--runs", type=int, default=3, help="runs per cell (default 3: medians, and ratios within a run)")
    p.add_argument("--binary", default=str(ROOT / ".build" / "release" / "dicom-ingest"))
    p.add_argument("--workdir", default="/tmp/dicom-ingest-bench", help="corpora, receiver output, state")
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown file to update ('' to skip)")
    p.add_argument("--run-timeout", type=float, default=300.0, help="bound for one run, seconds")


def run_cell(args: argparse.Namespace, known: dict, wanted: list[str], corp, services, cell_root: Path,
             delay: float, say, describe) -> list[dict]:
    """Every receiver of `wanted`, every association count and run, at one delay: rows of `run_once`
    results with `delay_ms` added; `describe(result)` is the progress line of a run that went through."""
    rows = []
    for assoc in (int(x) for x in args.associations.split(",") if x):
        for run in range(1, args.runs + 1):
            for key in wanted:
                res = run_once(known[key](), corp, assoc, run, services, cell_root, args.run_timeout)
                d = res.to_dict()
                d["delay_ms"] = delay
                rows.append(d)
                if res.ok:
                    say(f"{delay:g} ms a{assoc} {key}: {describe(res)}")
                else:
                    say(f"{delay:g} ms a{assoc} {key}: FAILED {res.error[:300]}")
    return rows


def cells(rows: list[dict]) -> dict[tuple[float, int], dict[str, dict[int, dict]]]:
    """The rows that went through, as (delay, associations) -> receiver -> run -> result."""
    out: dict[tuple[float, int], dict[str, dict[int, dict]]] = {}
    for r in rows:
        if r["ok"]:
            out.setdefault((r["delay_ms"], r["associations"]), {}).setdefault(r["receiver"], {})[r["run"]] = r
    return out


def median_time(results: dict[int, dict], field: str) -> str:
    """The median of `field` (seconds) over the runs, with the instances per second it makes; "—" for none."""
    values = [r[field] for r in results.values() if r[field] > 0]
    if not values:
        return "—"
    seconds = statistics.median(values)
    return f"{seconds:.2f} s ({next(iter(results.values()))['instances'] / seconds:.1f}/s)"


def paired(numerator: dict[int, dict], num_key: str, denominator: dict[int, dict], den_key: str) -> str:
    """numerator ÷ denominator of the same run (the two ran minutes apart at most, on the same load): the
    median with the range over the runs; "—" for none."""
    ratios = [numerator[run][num_key] / denominator[run][den_key]
              for run in sorted(numerator.keys() & denominator.keys()) if denominator[run][den_key] > 0]
    if not ratios:
        return "—"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}×"
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def bounds(rows: list[dict], floors: list[dict]) -> list[str]:
    """The table of what bounds each cell: the goal's time, the emulator alone with the same objects, and the
    CPU a `spooled` run spends in the receiver, the emulator and PostgreSQL against the machine's cores."""
    if not floors:
        return []
    cores = os.cpu_count() or 1
    out = ["", f"What bounds each cell. *Emulator alone*: a boto3 client puts the objects of a `spooled` run (each ct "
           "Part10 gzipped at level 1, and its JSON) through the same proxy, "
           f"{emulator_floor.IN_FLIGHT} requests in flight, with no receiver running; no receiver lands the "
           "cell sooner, so *largest ratio* (reference ÷ emulator alone, within a run) is the most any receiver "
           "can reach here. *CPU*: what one `spooled` run spends in the receiver, the emulator and PostgreSQL "
           f"(medians), and that work spread over the machine's {cores} cores, the least time it needs "
           "(the sender and the harness come on top).", "",
           "| S3 delay | associations | goal: to S3 within (reference ÷ 3) | emulator alone | largest ratio | "
           "spooled CPU: receiver + emulator + PostgreSQL | ÷ cores |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    by_delay: dict[float, dict[int, dict]] = {}
    for f in floors:
        by_delay.setdefault(f["delay_ms"], {})[f["run"]] = f
    for (delay, assoc), by in sorted(cells(rows).items()):
        ref, spooled, floor = by.get("reference", {}), by.get("ingest-s3-spooled", {}), by_delay.get(delay, {})
        goal = f"{statistics.median(r['seconds'] for r in ref.values()) / 3:.2f} s" if ref else "—"
        alone = f"{statistics.median(f['seconds'] for f in floor.values()):.2f} s" if floor else "—"
        cpu, spread = "—", "—"
        if spooled:
            parts = [statistics.median(r[k] for r in spooled.values()) / 1000
                     for k in ("cpu_ms", "moto_cpu_ms", "postgres_cpu_ms")]
            cpu = f"{parts[0]:.2f} + {parts[1]:.2f} + {parts[2]:.2f} s"
            spread = f"{sum(parts) / cores:.2f} s"
        out.append(f"| {delay} ms | {assoc} | {goal} | {alone} | {paired(ref, 'seconds', floor, 'seconds')} | "
                   f"{cpu} | {spread} |")
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench --s3-latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--s3-latency", required=True, help="comma list of response delays in ms, e.g. 0,50,150")
    add_cell_arguments(p, RECEIVERS)
    return p.parse_args(argv)


def render(rows: list[dict], floors: list[dict], command: str, started: str, machine: str, corpus_info: str,
           notes: list[str]) -> str:
    runs = max((r["run"] for r in rows), default=1)
    over = (f" With {runs} runs per cell: times are medians; each ratio is taken within a run (the receivers of "
            "a run go one after the other) and given as the median with the range over the runs; peak RSS is the "
            "largest.") if runs > 1 else ""
    out = [SECTION_BEGIN, "### S3 latency, one association's worth: `scripts/bench --s3-latency`", "",
           f"Run {started} UTC on {machine}; corpus ct {corpus_info}; command: `{command}`. Each S3 response "
           "is held back by the given delay (a loopback proxy in front of moto; at 0 ms no proxy). *To S3*: "
           "from the first C-STORE until the last object is in the bucket (for the reference design and "
           "`spooled`, counted at the emulator); *last response*: until the last C-STORE-RSP. Ratios are "
           "against the reference "
           "design's time to S3 in the same run; the filesystem target (no S3) is run beside each cell for the "
           "pace of its answers, with SQLite as in the main table and with PostgreSQL as the S3 receivers."
           + over, "",
           "| S3 delay | associations | reference: to S3 | stored: to S3 | spooled: to S3 | spooled: last response "
           "| filesystem target, SQLite: last response | filesystem target, PostgreSQL: last response "
           "| spooled ÷ reference (inst/s) | stored ÷ reference "
           "| spooled ÷ filesystem (last response), SQLite / PostgreSQL | spooled peak RSS |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (delay, assoc), by in sorted(cells(rows).items()):
        ref, stored, spooled = by.get("reference", {}), by.get("ingest-s3", {}), by.get("ingest-s3-spooled", {})
        filesystem, filesystem_pg = by.get("ingest-fs", {}), by.get("ingest-fs-pg", {})

        def t(results: dict[int, dict], key: str = "seconds") -> str:
            return median_time(results, key)

        # Times to S3: the reference's over the receiver's is the receiver's rate over the reference's.
        spooled_ratio = paired(ref, "seconds", spooled, "seconds")
        stored_ratio = paired(ref, "seconds", stored, "seconds")
        # Above 1× the spool answers more slowly than the filesystem target (the goal is at most 1×).
        pace = (f'{paired(spooled, "response_seconds", filesystem, "response_seconds")} / '
                f'{paired(spooled, "response_seconds", filesystem_pg, "response_seconds")}')
        rss = f"{max(r['peak_rss_kib'] for r in spooled.values()) / 1024:.0f} MiB" if spooled else "—"
        out.append(f"| {delay} ms | {assoc} | {t(ref)} | {t(stored)} | {t(spooled)} | "
                   f"{t(spooled, 'response_seconds')} | {t(filesystem, 'response_seconds')} | "
                   f"{t(filesystem_pg, 'response_seconds')} | {spooled_ratio} | "
                   f"{stored_ratio} | {pace} | {rss} |")
    out += bounds(rows, floors)
    failed = [r for r in rows if not r["ok"]]
    for r in failed:
        notes.append(f"{r['receiver']} at {r['delay_ms']} ms, {r['associations']} associations, run {r['run']} "
                     f"failed: {r['error'][:200]}")
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    # A blank line after the marker keeps the hand-written text that follows a paragraph of its own.
    out += ["", SECTION_END, "", ""]
    return "\n".join(out)


def write(path: Path, section: str, begin: str = SECTION_BEGIN, end: str = SECTION_END) -> None:
    """Replaces the text between the markers `begin` and `end` (or appends `section` when they are absent)."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str]) -> int:
    args = parse(argv)
    t0 = time.monotonic()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    command = " ".join(["scripts/bench", *(shlex.quote(x) for x in argv)])

    def say(msg: str) -> None:
        print(f"[s3-latency {time.monotonic() - t0:5.0f}s] {msg}", flush=True)

    delays = [int(x) for x in args.s3_latency.split(",") if x != ""]
    wanted = [r for r in args.receivers.split(",") if r]
    known = catalogue(Path(args.binary))
    for r in wanted:
        if r not in known:
            print(f"unknown receiver {r}; known here: {', '.join(RECEIVERS)}", file=sys.stderr)
            return 2
    if any(r.startswith("ingest") for r in wanted) and not Path(args.binary).exists():
        print(f"{args.binary} missing: build with `swift build -c release --static-swift-stdlib "
              "--product dicom-ingest`", file=sys.stderr)
        return 2
    work = Path(args.workdir)
    runs_root = work / "runs-latency"
    shutil.rmtree(runs_root, ignore_errors=True)
    runs_root.mkdir(parents=True)
    corp = corpusmod.ensure(corpusmod.ct_spec(args.ct), work / "corpus", log=say)
    corpus_info = f"{len(corp.files)} × {corp.total_bytes / len(corp.files) / 1e6:.2f} MB"
    floor_bodies = emulator_floor.write_bodies(corp.files, work / "emulator-floor")
    notes: list[str] = []
    rows: list[dict] = []
    floors: list[dict] = []
    services = svcmod.start(work / "services-latency")
    try:
        host, port = services.s3_endpoint.split("//", 1)[1].rsplit(":", 1)
        for position, delay in enumerate(delays):
            # A folder per delay: a receiver's state (the filesystem target's SQLite catalog, its
            # listener) must not carry over from one delay to the next.
            cell_root = runs_root / f"{position}-{delay}ms"
            cell_root.mkdir()
            # At 0 ms the receivers talk to the emulator directly: a proxy that holds nothing back would
            # only add its own CPU (in the harness's process) on the cores the receivers and the emulator share.
            proxy = LatencyProxy(host, int(port), delay).start() if delay > 0 else None
            proxied = ProxiedServices(**{f.name: getattr(services, f.name)
                                         for f in dataclasses.fields(svcmod.Services)},
                                      direct_endpoint=services.s3_endpoint)
            if proxy is not None:
                proxied.s3_endpoint = proxy.endpoint
            try:
                rows += run_cell(args, known, wanted, corp, proxied, cell_root, delay, say,
                                 lambda res: f"to S3 {res.seconds:.2f} s ({res.rate:.1f}/s), last response "
                                             f"{res.response_seconds:.2f} s, peak RSS {res.peak_rss_kib / 1024:.0f} MiB")
                for run in range(1, args.runs + 1):
                    floors.append(emulator_floor.measure(services, proxied.s3_endpoint, floor_bodies, run, delay))
                    say(f"{delay:g} ms emulator alone: {floors[-1]['seconds']:.2f} s, emulator CPU "
                        f"{floors[-1]['moto_cpu_ms'] / 1000:.2f} s")
            finally:
                if proxy is not None:
                    proxy.stop()
    finally:
        svcmod.stop(services)
        shutil.rmtree(runs_root, ignore_errors=True)
    (work / "results-latency.json").write_text(json.dumps({"rows": rows, "floors": floors}, indent=1))
    section = render(rows, floors, command, started, report.machine_line(), corpus_info, notes)
    print()
    print(section)
    if args.out:
        write(Path(args.out), section)
        say(f"figures written to {args.out}")
    return 0 if rows and all(r["ok"] for r in rows) else 1
