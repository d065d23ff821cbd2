"""scripts/bench: the whole benchmark table with one command (see BENCHMARKS.md for the method)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import corpus as corpusmod
from . import floor, gziplevels, profile, report, services as svcmod
from .receivers import ROOT, catalogue
from .runner import run_once

MAIN_RECEIVERS = ["dcmtk", "dcmtk-tmpfs", "reference", "ingest-fs", "ingest-s3", "ingest-tmpfs"]
VARIANT_RECEIVERS = ["ingest-fs-gzip", "ingest-fs-nometa", "ingest-s3-nogzip", "ingest-s3-nometa"]
DEFAULT_VARIANTS = ["ingest-fs-gzip", "ingest-fs-nometa", "ingest-s3-nogzip"]
SCALING_RECEIVERS = ["ingest-fs", "dcmtk"]
DEFAULT_SCALING_RECEIVERS = ["ingest-fs"]
# To stay under 20 min with the default sizes, the big corpus skips what its figures do not need unless
# --all-cells: the tmpfs pair (the listener ratio is about 1 and 4 associations of ct / mr-small), and the S3
# receivers at 1 association (the S3 goals are about ct / mr-small; big on S3 is the memory figure at 3).
BIG_SKIP_ALWAYS = {"dcmtk-tmpfs", "ingest-tmpfs"}
BIG_SKIP_SINGLE = {"reference", "ingest-s3", "ingest-s3-nogzip", "ingest-s3-nometa"}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="~3 min smoke run: small corpora, 1 run per cell")
    p.add_argument("--ct", type=int, help="ct instances (default 600; quick 60)")
    p.add_argument("--mr", type=int, help="mr-small instances (default 2000; quick 200)")
    p.add_argument("--big", type=int, help="big instances (default 3; quick 3)")
    p.add_argument("--big-mb", type=int, help="size of each big instance in MB (default 150; quick 20)")
    p.add_argument("--runs", type=int, help="runs per cell, interleaved A B A B (default 3; quick 1)")
    p.add_argument("--corpora", default="ct,mr-small,big", help="comma list of ct, mr-small, big")
    p.add_argument("--receivers", default=",".join(MAIN_RECEIVERS),
                   help="comma list of: " + ", ".join(MAIN_RECEIVERS + VARIANT_RECEIVERS))
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help="dicom-ingest variants run on ct at 4 associations ('' for none)")
    p.add_argument("--scaling", default="1,2,4,8,16", help="associations for the scaling series on ct ('' off)")
    p.add_argument("--scaling-receivers", default=",".join(DEFAULT_SCALING_RECEIVERS),
                   help="receivers of the scaling series (e.g. ingest-fs,dcmtk)")
    p.add_argument("--all-cells", action="store_true",
                   help="also run the cells the default skips on big to stay under 20 min")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                   help="one extra perf-profiled run of ingest-fs and ingest-s3 on ct at 4 associations "
                        "(default: on, off with --quick)")
    p.add_argument("--binary", default=str(ROOT / ".build" / "release" / "dicom-ingest"))
    p.add_argument("--workdir", default="/tmp/dicom-ingest-bench", help="corpora, receiver output, state")
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown file to update ('' to skip)")
    p.add_argument("--render", metavar="RESULTS_JSON",
                   help="only re-render the tables (and --out) from a results.json of an earlier run")
    p.add_argument("--budget-min", type=float, default=19.5, help="stop starting new runs after this")
    p.add_argument("--run-timeout", type=float, default=600.0, help="bound for one run, seconds")
    a = p.parse_args(argv)
    quick = a.quick
    a.ct = a.ct if a.ct is not None else (60 if quick else 600)
    a.mr = a.mr if a.mr is not None else (200 if quick else 2000)
    a.big = a.big if a.big is not None else 3
    a.big_mb = a.big_mb if a.big_mb is not None else (20 if quick else 150)
    a.profile = a.profile if a.profile is not None else not quick
    a.runs = a.runs if a.runs is not None else (1 if quick else 3)
    return a


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        figures = report.render(saved["results"], saved["labels"], saved["corpora"], saved["command"],
                                saved["machine"], saved["started"], saved["minutes"], saved["notes"],
                                saved.get("profiles"), saved.get("gzip"), _floors(saved.get("floors")))
        print(figures)
        if args.out:
            report.write_benchmarks(Path(args.out), figures)
        return 0
    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    flags = [*(["--no-build"] if os.environ.get("BENCH_NO_BUILD") else []),
             *(["--no-install"] if os.environ.get("BENCH_NO_INSTALL") else []), *argv]
    command = " ".join(["scripts/bench", *(shlex.quote(x) for x in flags)])
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    runs_root = work / "runs"
    shutil.rmtree(runs_root, ignore_errors=True)
    runs_root.mkdir()
    notes: list[str] = []

    def say(msg: str) -> None:
        print(f"[bench {time.monotonic() - t_start:6.0f}s] {msg}", flush=True)

    known = catalogue(Path(args.binary))
    wanted = [r for r in args.receivers.split(",") if r]
    variants = [r for r in args.variants.split(",") if r]
    for r in wanted + variants:
        if r not in known:
            print(f"unknown receiver {r}; known: {', '.join(known)}", file=sys.stderr)
            return 2
    if not Path(args.binary).exists():
        dropped = [r for r in wanted + variants if r.startswith("ingest")]
        if dropped:
            notes.append(f"dicom-ingest binary {args.binary} missing: {', '.join(dropped)} not measured "
                         "(build with `swift build -c release --product dicom-ingest`).")
            say(notes[-1])
        wanted = [r for r in wanted if not r.startswith("ingest")]
        variants = []
    binary = Path(args.binary)
    if binary.exists():
        built = dt.datetime.fromtimestamp(binary.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True).stdout.strip()
        notes.append(f"dicom-ingest: {binary} built {built} UTC; checkout HEAD at bench time: {head[:90]}")
    scaling = [int(x) for x in args.scaling.split(",") if x] if args.scaling else []
    scaling_receivers = [r for r in args.scaling_receivers.split(",") if r and r in wanted]

    # Corpora
    specs = {"ct": corpusmod.ct_spec(args.ct), "mr-small": corpusmod.mr_spec(args.mr),
             "big": corpusmod.big_spec(args.big, args.big_mb)}
    chosen = [c for c in args.corpora.split(",") if c]
    corpora = {}
    for name in chosen:
        corpora[name] = corpusmod.ensure(specs[name], work / "corpus", log=say)
    info = {n: f"{len(c.files)} × {c.total_bytes / len(c.files) / 1e6:.2f} MB ({c.total_bytes / 1e6:.0f} MB)"
            for n, c in corpora.items()}
    say("corpora: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    gzip_rows = {n: gziplevels.measure(c.files) for n, c in corpora.items() if n in ("ct", "mr-small")}
    # The durable floor on this disk, per corpus and association count of the filesystem cells.
    floors: dict[str, dict[int, dict]] = {}
    if "ingest-fs" in wanted:
        for n, c in corpora.items():
            if n in ("ct", "mr-small"):
                floors[n] = {w: floor.measure(c.files, runs_root / f"floor-{n}-{w}", w) for w in (1, 4)}
                say(f"durable floor {n}: " + ", ".join(f"{w} writers {f['rate']:.0f} inst/s"
                                                        for w, f in floors[n].items()))

    # Services (PostgreSQL + moto) only when a receiver needs them.
    needs = any(r == "reference" or r.startswith("ingest-s3") for r in wanted + variants)
    services = None
    stopping = {"flag": False}

    def on_signal(signum, _frame):
        stopping["flag"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results: list[dict] = []
    profiles: dict[str, list[str]] = {}
    try:
        if needs:
            say("starting PostgreSQL + moto (scripts/services)")
            services = svcmod.start(work / "services")

        # The plan: (section, corpus, associations, receivers). Receivers of one cell run interleaved A B A B.
        plan = []
        for name in chosen:
            for assoc in ((1, max(1, args.big)) if name == "big" else (1, 4)):
                recv = list(wanted)
                if name == "ct" and assoc == 4:
                    recv += variants
                if name == "big" and not args.all_cells:
                    recv = [r for r in recv if r not in BIG_SKIP_ALWAYS and not (assoc == 1 and r in BIG_SKIP_SINGLE)]
                plan.append(("main", name, assoc, recv))
        if "ct" in corpora and scaling_receivers:
            for assoc in scaling:
                if assoc in (1, 4):
                    continue  # already in the main section
                plan.append(("scaling", "ct", assoc, scaling_receivers))

        # Warm-up (not measured): flush the freshly written corpora and read each one once, so the first
        # measured run does not pay for writeback or a cold page cache.
        os.sync()
        for name, corp in corpora.items():
            warm = run_once(known["dcmtk-tmpfs"](), corp, 1, 0, services, runs_root, args.run_timeout)
            if not warm.ok:
                say(f"warm-up on {name} failed: {warm.error[:200]}")

        broken: dict[str, int] = {}
        last_wall: dict[tuple[str, str], float] = {}  # wall time of the last run, to respect the budget
        budget = args.budget_min * 60
        for section, name, assoc, recv in plan:
            for run in range(1, args.runs + 1):
                for key in recv:
                    expected_s = last_wall.get((key, name), 0.0)
                    if time.monotonic() - t_start + expected_s > budget:
                        if not any("budget" in n for n in notes):
                            notes.append(f"time budget of {args.budget_min} min reached: later runs skipped")
                            say(notes[-1])
                        continue
                    if broken.get(key, 0) >= 2:
                        continue
                    receiver = known[key]()
                    t_run = time.monotonic()
                    res = run_once(receiver, corpora[name], assoc, run, services, runs_root, args.run_timeout)
                    last_wall[(key, name)] = time.monotonic() - t_run
                    d = res.to_dict()
                    d["section"] = section
                    results.append(d)
                    if res.ok:
                        broken[key] = 0
                        say(f"{section} {name} a{assoc} r{run} {key}: {res.rate:.1f} inst/s {res.mbps:.1f} MB/s "
                            f"{res.peak_rss_kib / 1024:.0f} MiB cpu {res.cpu_ms / res.instances:.2f} ms/inst "
                            f"moto {res.moto_cpu_ms / res.instances:.2f} ms/inst")
                    else:
                        broken[key] = broken.get(key, 0) + 1
                        say(f"{section} {name} a{assoc} r{run} {key}: FAILED {res.error[:300]}")
                        if broken[key] >= 2:
                            notes.append(f"{key} failed twice in a row and was not run again: {res.error[:200]}")
        profiles: dict[str, list[str]] = {}
        if args.profile and "ct" in corpora:
            for key in [k for k in ("ingest-fs", "ingest-s3") if k in wanted and broken.get(k, 0) < 2]:
                if time.monotonic() - t_start > budget:
                    break
                data = work / f"perf-{key}.data"
                data.unlink(missing_ok=True)
                res = run_once(known[key](), corpora["ct"], 4, 0, services, runs_root, args.run_timeout,
                               profile_out=data)
                d = res.to_dict()
                d["section"] = "profile"
                results.append(d)
                profiles[key] = profile.top_symbols(data) if res.ok else [f"run failed: {res.error[:200]}"]
                say(f"profile {key}: " + (profiles[key][0] if profiles[key] else "no samples"))
    except KeyboardInterrupt:
        notes.append("interrupted: partial figures")
    finally:
        svcmod.stop(services)
        shutil.rmtree(runs_root, ignore_errors=True)

    labels = {k: known[k]().label for k in known}
    minutes = (time.monotonic() - t_start) / 60
    saved = {"command": command, "started": started.strftime("%Y-%m-%d %H:%M"), "minutes": minutes,
             "machine": report.machine_line(), "corpora": info, "labels": labels, "notes": notes,
             "profiles": profiles, "gzip": gzip_rows, "floors": floors, "results": results}
    (work / "results.json").write_text(json.dumps(saved, indent=1))
    figures = report.render(results, labels, info, command, saved["machine"], saved["started"], minutes, notes,
                            profiles, gzip_rows, floors)
    print()
    print(figures)
    if args.out:
        report.write_benchmarks(Path(args.out), figures)
        say(f"figures written to {args.out} (raw results: {work / 'results.json'})")
    return 0 if results and all(r["ok"] for r in results) else 1


def _floors(saved: dict | None) -> dict[str, dict[int, dict]]:
    """JSON keys are strings: the association counts back to integers."""
    return {corpus: {int(w): f for w, f in by.items()} for corpus, by in (saved or {}).items()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
