"""Wall-clock CPU per instance of several dicom-ingest binaries, run interleaved (A B C, B C A, C A B …).

    PYTHONPATH=Benchmarks python3 -m bench_lib.compare before=/path/a after=/path/b \\
        [--receivers ingest-fs,ingest-s3] [--corpora mr-small,ct] [--associations 1] [--runs 5] [--sender-nagle]

A before/after figure of one change, measured like the main table (runner.run_once: fresh receiver per
run, storescu -R, CPU of the receiver and of PostgreSQL from /proc), but with the binaries as the
interleaved variable, so machine load drifts into every binary alike. Prints the median per cell.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from . import corpus as corpusmod
from . import services as svcmod
from .receivers import catalogue
from .runner import run_once


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python3 -m bench_lib.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", nargs="+", help="NAME=PATH of each dicom-ingest binary")
    p.add_argument("--receivers", default="ingest-fs,ingest-s3")
    p.add_argument("--corpora", default="mr-small,ct", help="comma list of ct, mr-small, big")
    p.add_argument("--ct", type=int, default=300)
    p.add_argument("--mr", type=int, default=1000)
    p.add_argument("--associations", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--workdir", default="/tmp/dicom-ingest-compare")
    p.add_argument("--big", type=int, default=3, help="instances of ~150 MB in the big corpus (default 3)")
    p.add_argument("--run-timeout", type=float, default=600)
    p.add_argument("--sender-nagle", action="store_true",
                   help="storescu as DCMTK ships it (Nagle on), not TCP_NODELAY=1")
    args = p.parse_args(argv)
    binaries = dict(b.split("=", 1) for b in args.binaries)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    runs_root = work / "runs"
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[compare {time.monotonic() - t0:5.0f}s] {msg}", flush=True)

    specs = {"ct": corpusmod.ct_spec(args.ct), "mr-small": corpusmod.mr_spec(args.mr),
             "big": corpusmod.big_spec(args.big, 150)}
    corpora = {n: corpusmod.ensure(specs[n], work / "corpus", log=say) for n in args.corpora.split(",") if n}
    receivers = [r for r in args.receivers.split(",") if r]
    services = svcmod.start(work / "services") if any(r.startswith("ingest-s3") for r in receivers) else None
    results: list[dict] = []
    try:
        for name, corp in corpora.items():
            for key in receivers:
                for run in range(1, args.runs + 1):
                    # Each run starts with the next binary, so none is always first or last in a round.
                    order = list(binaries.items())
                    shift = (run - 1) % len(order)
                    for label, path in order[shift:] + order[:shift]:
                        receiver = catalogue(Path(path))[key]()
                        receiver.key = f"{key}-{label}"
                        res = run_once(receiver, corp, args.associations, run, services, runs_root, args.run_timeout,
                                       sender_nagle=args.sender_nagle)
                        d = res.to_dict() | {"binary": label, "config": key}
                        results.append(d)
                        n = max(1, res.instances)
                        say(f"{name} {key} {label} r{run}: " + (
                            f"{res.rate:.1f} inst/s cpu {res.cpu_ms / n:.3f} ms/inst postgres "
                            f"{res.postgres_cpu_ms / n:.3f} ms/inst" if res.ok else f"FAILED {res.error[:300]}"))
    finally:
        svcmod.stop(services)
        shutil.rmtree(runs_root, ignore_errors=True)
    (work / "compare.json").write_text(json.dumps(results, indent=1))
    print("\n| corpus | receiver | binary | runs | inst/s | receiver CPU ms/inst | PostgreSQL CPU ms/inst |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name in corpora:
        for key in receivers:
            for label in binaries:
                ok = [r for r in results if r["corpus"] == name and r["config"] == key and r["binary"] == label
                      and r["ok"]]
                if not ok:
                    print(f"| {name} | {key} | {label} | 0 | – | – | – |")
                    continue
                med = lambda f: statistics.median(f(r) for r in ok)  # noqa: E731
                print(f"| {name} | {key} | {label} | {len(ok)} | {med(lambda r: r['rate']):.1f} | "
                      f"{med(lambda r: r['cpu_ms'] / r['instances']):.3f} | "
                      f"{med(lambda r: r['postgres_cpu_ms'] / r['instances']):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
