"""The durable floor of one instance on the benchmark's own disk, with no receiver around it.

A receiver that acknowledges only what is durable needs, per instance, at least one flush of the object's
bytes and one flush of its catalog row: `write` + `fsync` of a file of the instance's size, then a SQLite
commit in WAL mode with `synchronous=FULL` (the WAL's `fsync`). A sender that waits for each C-STORE-RSP
before the next instance (storescu without an operations window) then gets at most 1 / (that time)
instances/s per association, whatever the receiver does. This measures that bound with N writers at once
(one per association), each its own file folder and its own SQLite connection on one shared database, as
the filesystem target and the SQLite catalog use them; the `dicom-ingest fs` cells are then read against it.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path


def measure(files: list[Path], workdir: Path, writers: int, count: int = 200, seconds: float = 6.0) -> dict:
    """Instances/s of `writers` loops of (file write + fsync, SQLite commit), over at most `count` instances
    each and `seconds` in all, writing the corpus's own bytes."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "floor.sqlite"
    setup = sqlite3.connect(db_path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE IF NOT EXISTS instances (id INTEGER PRIMARY KEY, writer INTEGER, n INTEGER, "
                  "sha TEXT, size INTEGER)")
    setup.commit()
    setup.close()
    blobs = [f.read_bytes() for f in files[:min(len(files), 50)]]
    done = [0] * writers
    deadline = time.monotonic() + seconds
    errors: list[str] = []

    def loop(w: int) -> None:
        folder = workdir / f"w{w}"
        folder.mkdir(exist_ok=True)
        db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        try:
            for n in range(count):
                if time.monotonic() > deadline:
                    break
                data = blobs[n % len(blobs)]
                fd = os.open(folder / f"{n}.dcm", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO instances (writer, n, sha, size) VALUES (?, ?, ?, ?)",
                           (w, n, "0" * 64, len(data)))
                db.execute("COMMIT")
                done[w] += 1
        except (OSError, sqlite3.Error) as e:
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            db.close()

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(writers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(time.monotonic() - t0, 1e-9)
    total = sum(done)
    return {"writers": writers, "instances": total, "seconds": elapsed, "rate": total / elapsed,
            "ms_per_instance": 1000 * elapsed * writers / max(total, 1), "error": errors[0] if errors else ""}


def table(floors: dict[str, dict[int, dict]], results: list[dict]) -> str:
    """Each filesystem cell of the main table against the floor of its corpus and association count."""
    from .report import group, _num

    if not floors:
        return "_not measured_"
    cells = group([r for r in results if r.get("section") == "main"])
    lines = ["| corpus | assoc | floor inst/s (ms per instance per writer) | DCMTK storescp (no flush) inst/s | "
             "dicom-ingest fs+SQLite, meta inst/s | dicom-ingest ÷ floor | storescp ÷ floor |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for corpus, by_writers in floors.items():
        for assoc, f in sorted(by_writers.items()):
            if f["error"] or f["rate"] <= 0:
                lines.append(f"| {corpus} | {assoc} | failed: {f['error'][:120]} | | | | |")
                continue
            ours = cells.get((corpus, assoc, "ingest-fs"))
            dcmtk = cells.get((corpus, assoc, "dcmtk"))
            ours_rate = ours.median("rate") if ours and ours.valid else 0.0
            dcmtk_rate = dcmtk.median("rate") if dcmtk and dcmtk.valid else 0.0
            floor_rate = f["rate"]
            ours_ratio = f"{ours_rate / floor_rate:.2f}×" if ours_rate else "–"
            dcmtk_ratio = f"{dcmtk_rate / floor_rate:.2f}×" if dcmtk_rate else "–"
            lines.append(
                f"| {corpus} | {assoc} | {_num(floor_rate)} ({f['ms_per_instance']:.2f} ms) | "
                f"{_num(dcmtk_rate) if dcmtk_rate else '–'} | {_num(ours_rate) if ours_rate else '–'} | "
                f"{ours_ratio} | {dcmtk_ratio} |")
    return "\n".join(lines)
