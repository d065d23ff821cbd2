"""`scripts/bench --instructions`: instructions per instance under callgrind.

Wall-clock figures move with whatever else the machine does; an instruction count does not. Each receiver
runs under `valgrind --tool=callgrind`; once it answers C-ECHO its counters are zeroed (`callgrind_control
--zero`), one storescu association sends a fixed set of instances (50 ct, 200 mr-small), and when the last
C-STORE-RSP is in and every object is durable the counters are dumped (`callgrind_control --dump`). The
dump therefore holds exactly the receive of those instances: instructions per instance is its total over
the count, and its inclusive profile names where they go. DCMTK storescp (one process, no --fork, so the
association runs in the process being counted) gives the scale.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import corpus as corpusmod
from . import receivers as recmod
from . import services as svcmod
from .receivers import AE, ROOT, DcmtkStorescp, catalogue

CONFIGS = [
    ("ingest-fs", "dicom-ingest fs+SQLite, meta, no gzip"),
    ("ingest-fs-nometa", "dicom-ingest fs+SQLite, no meta, no gzip"),
    ("ingest-s3", "dicom-ingest S3+PostgreSQL, meta, gzip"),
    ("ingest-s3-nogzip", "dicom-ingest S3+PostgreSQL, meta, no gzip"),
    ("dcmtk", "DCMTK storescp (one process)"),
]
SECTION_BEGIN = "<!-- instructions:begin -->"
SECTION_END = "<!-- instructions:end -->"
VALGRIND_SLOWDOWN_TIMEOUT = 600.0


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench --instructions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instructions", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ct", type=int, default=50, help="ct instances sent (default 50)")
    p.add_argument("--mr", type=int, default=200, help="mr-small instances sent (default 200)")
    p.add_argument("--configs", default=",".join(k for k, _ in CONFIGS), help="comma list of receivers")
    p.add_argument("--binary", default=str(ROOT / ".build" / "release" / "dicom-ingest"))
    p.add_argument("--workdir", default="/tmp/dicom-ingest-bench", help="corpora, receiver output, state")
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown file to update ('' to skip)")
    p.add_argument("--top", type=int, default=10, help="inclusive cost lines per cell")
    return p.parse_args(argv)


def callgrind_prefix(out_dir: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/callgrind.%p.out",
            "--vgdb=yes", "--vgdb-error=999999"]


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=120)


def _lines(dump: Path, inclusive: bool) -> tuple[int, list[tuple[float, int, str]]]:
    result = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
                             str(dump)], capture_output=True, text=True, timeout=600)
    total = 0
    rows: list[tuple[float, int, str]] = []
    for line in result.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$", line)
        if not m:
            continue
        count, percent, name = int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)
        if "PROGRAM TOTALS" in name:
            total = count
        elif len(rows) < 400:
            rows.append((percent, count, name))
    return total, rows


def _tidy(names: list[str]) -> list[str]:
    if shutil.which("swift") and names:
        dem = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names), capture_output=True,
                             text=True, timeout=120)
        if dem.returncode == 0 and len(dem.stdout.splitlines()) == len(names):
            names = dem.stdout.splitlines()
    out = []
    for name in names:
        # "file.c:function [/usr/lib/x/libfoo.so.1]" -> "function [libfoo.so.1]"
        name = re.sub(r"\[[^\]]*/([^/\]]+)\]$", r"[\1]", " ".join(name.split()))
        name = re.sub(r"^(\?\?\?|[^\s:]*\.(c|cc|cpp|S|swift|h)):", "", name)
        out.append(name[:160])
    return out


NOISE = re.compile(r"(start_thread|clone3?|\?\?\?:0x|_dl_start|thread_start|libc_start|below main|swift_job_run|"
                   r"ThreadStart|pthread|NIOPosix.ThreadOpsPosix|NIOThread|setupThreadAndEventLoop|_dispatch_)")


def annotate(dump: Path, top: int) -> dict:
    """Total Ir of one callgrind dump, its top self costs, top inclusive costs (call cycles, which async
    Swift code makes, can push an inclusive figure over 100 %: those lines are left out) and the
    SHA-256 block function's share."""
    total, self_rows = _lines(dump, inclusive=False)
    _, inclusive_rows = _lines(dump, inclusive=True)
    sha = sum(count for _, count, name in self_rows if "sha256_block" in name)
    chosen_self = [(p, n) for p, _, n in self_rows if not NOISE.search(n)][:top]
    chosen_incl = [(p, n) for p, _, n in inclusive_rows if p <= 100.0 and not NOISE.search(n)][:top]
    names = _tidy([n for _, n in chosen_self] + [n for _, n in chosen_incl])
    self_lines = [f"{p:5.1f} %  {n}" for (p, _), n in zip(chosen_self, names[:len(chosen_self)])]
    incl_lines = [f"{p:5.1f} %  {n}" for (p, _), n in zip(chosen_incl, names[len(chosen_self):])]
    return {"total": total, "sha256": sha, "self": self_lines, "inclusive": incl_lines}


def measure(key: str, files: list[Path], binary: Path, services, work: Path, top: int, say) -> dict:
    out_dir = work / f"callgrind-{key}-{files[0].parent.name}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if key == "dcmtk":
        receiver = DcmtkStorescp(key="dcmtk", label="storescp")
    else:
        receiver = catalogue(binary)[key]()
    prefix = callgrind_prefix(out_dir)
    original_spawn = receiver._spawn

    def spawn(args, env=None, cwd=None):
        if key == "dcmtk":  # one process: the association is counted where it runs
            args = [a for a in args if a != "--fork"]
        original_spawn(prefix + args, env=env, cwd=cwd)

    receiver._spawn = spawn
    receiver._wait_http = lambda timeout, _orig=getattr(receiver, "_wait_http", None): _orig(VALGRIND_SLOWDOWN_TIMEOUT)
    original_wait_echo = recmod.wait_echo
    recmod.wait_echo = lambda port, timeout, proc: original_wait_echo(port, VALGRIND_SLOWDOWN_TIMEOUT, proc)
    try:
        receiver.start(out_dir / "run", services)
        pid = receiver.pid
        control("--zero", str(pid))
        started = time.monotonic()
        # As the wall-clock runs send (runner.py): only the SOP classes of the files (-R), TCP_NODELAY.
        send = subprocess.run(["/usr/bin/storescu", "-aet", "BENCHSCU", "-aec", AE, "-R", "-nh", "-to", "600",
                               "-ta", "600", "-td", "600", "127.0.0.1", str(receiver.port), *map(str, files)],
                              capture_output=True, text=True, timeout=3600,
                              env={**os.environ, "TCP_NODELAY": "1"})
        if send.returncode != 0:
            raise RuntimeError(f"storescu failed ({send.returncode}): {send.stderr[-2000:]}")
        expected = len(files) * receiver.objects_per_instance
        deadline = time.monotonic() + 600
        while receiver.durable_count() < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        durable = receiver.durable_count()
        if durable < expected:
            raise RuntimeError(f"{durable} of {expected} objects durable")
        seconds = time.monotonic() - started
        before = set(out_dir.glob("callgrind.*.out*"))
        control("--dump", str(pid))
        dumps = sorted(set(out_dir.glob("callgrind.*.out*")) - before, key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise RuntimeError("callgrind wrote no dump")
        costs = annotate(dumps[-1], top)
        total = costs["total"]
        say(f"{key}: {total / len(files):,.0f} instructions per instance ({len(files)} instances, {seconds:.0f} s)")
        return {"key": key, "instances": len(files), "total": total, "per_instance": total / len(files),
                "sha256_per_instance": costs["sha256"] / len(files), "self": costs["self"],
                "inclusive": costs["inclusive"]}
    finally:
        recmod.wait_echo = original_wait_echo
        receiver.stop()
        receiver.cleanup(services)


def render(results: dict[str, list[dict]], command: str, started: str, machine: str, labels: dict[str, str]) -> str:
    out = [SECTION_BEGIN, "### Instructions per instance (callgrind): `scripts/bench --instructions`", "",
           f"Run {started} UTC on {machine}; command: `{command}`. Counts are user-space instructions executed "
           "by the receiver process (all its threads) from its first C-ECHO answer to the last object durable, "
           "divided by the instances sent over one association (storescu -R); they do not move with machine "
           "load, so they are the before/after figure of a change. The kernel's work (copies into the page "
           "cache, fsync) is not in them. Valgrind's virtual CPU has no SHA extensions, so BoringSSL's "
           "SHA-256 runs its AVX code here (about 30 instructions per byte) where the real CPU would use "
           "SHA-NI: the SHA-256 column says how much of each figure that is.", ""]
    for corpus_name, rows in results.items():
        scale = next((r["per_instance"] for r in rows if r["key"] == "dcmtk"), None)
        out += [f"**{corpus_name}** ({rows[0]['instances'] if rows else 0} instances)", "",
                "| receiver | instructions per instance | of which SHA-256 | × storescp | × storescp without SHA-256 |",
                "|---|---:|---:|---:|---:|"]
        for r in rows:
            sha = r.get("sha256_per_instance", 0.0)
            ratio = f"{r['per_instance'] / scale:.2f}×" if scale else "–"
            ratio_wo = f"{(r['per_instance'] - sha) / scale:.2f}×" if scale else "–"
            out.append(f"| {labels.get(r['key'], r['key'])} | {r['per_instance'] / 1e6:,.2f} M | "
                       f"{sha / 1e6:,.2f} M | {ratio} | {ratio_wo} |")
        out.append("")
        for r in rows:
            out += [f"<details><summary>{labels.get(r['key'], r['key'])}: top self and inclusive costs</summary>",
                    "", "```", "self:", *r["self"], "inclusive:", *r["inclusive"], "```", "</details>", ""]
    out.append(SECTION_END)
    return "\n".join(out)


def write(path: Path, section: str) -> None:
    text = path.read_text()
    if SECTION_BEGIN in text and SECTION_END in text:
        head, rest = text.split(SECTION_BEGIN, 1)
        _, tail = rest.split(SECTION_END, 1)
        text = head + section + tail
    else:
        anchor = "## Component benchmarks"
        text = text.replace(anchor, section + "\n\n" + anchor, 1) if anchor in text else text + "\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str]) -> int:
    args = parse(argv)
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install valgrind", file=sys.stderr)
            return 2
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[instructions {time.monotonic() - t0:5.0f}s] {msg}", flush=True)

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    binary = Path(args.binary).resolve()
    if binary.exists():
        # valgrind 3.19 cannot read the DWARF 5 that Swift 6's toolchain writes ("unhandled dwarf2 abbrev
        # form"); a copy without debug sections keeps its symbol table, which is all the profile needs.
        stripped = work / "dicom-ingest.nodebug"
        subprocess.run(["objcopy", "--strip-debug", str(binary), str(stripped)], check=True)
        binary = stripped
    configs = [c for c in args.configs.split(",") if c]
    if any(c.startswith("ingest") for c in configs) and not binary.exists():
        print(f"{binary} not found: swift build -c release --product dicom-ingest", file=sys.stderr)
        return 2
    corpora = {"ct": corpusmod.ensure(corpusmod.ct_spec(args.ct), work / "corpus", log=say),
               "mr-small": corpusmod.ensure(corpusmod.mr_spec(args.mr), work / "corpus", log=say)}
    services = None
    if any(c.startswith("ingest-s3") for c in configs):
        say("starting PostgreSQL + moto (scripts/services)")
        services = svcmod.start(work / "services-instructions")
    results: dict[str, list[dict]] = {}
    try:
        for name, corpus in corpora.items():
            results[name] = [measure(key, corpus.files, binary, services, work, args.top, say) for key in configs]
    finally:
        svcmod.stop(services)
    labels = dict(CONFIGS)
    machine = f"{os.cpu_count()} CPU, valgrind {subprocess.run(['valgrind', '--version'], capture_output=True, text=True).stdout.strip()}"
    command = "scripts/bench " + " ".join(argv)
    section = render(results, command, started, machine, labels)
    print(section)
    if args.out:
        write(Path(args.out), section)
        say(f"wrote {args.out}")
    return 0
