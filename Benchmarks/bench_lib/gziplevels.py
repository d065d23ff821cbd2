"""zlib (gzip) level trade-off on the corpus itself: MB/s of input and ratio per level, one core.

Python's zlib module is the same C zlib the Swift target links (CZlib), so this is the library's own speed
without any receiver around it; it informs the default gzip level.
"""
from __future__ import annotations

import time
import zlib
from pathlib import Path


def measure(files: list[Path], levels=(1, 3, 5, 6), max_bytes: int = 20_000_000) -> list[dict]:
    blobs, total = [], 0
    for f in files:
        if total >= max_bytes:
            break
        data = f.read_bytes()[:max_bytes - total]
        blobs.append(data)
        total += len(data)
    out = []
    for level in levels:
        t0 = time.process_time()
        compressed = 0
        for data in blobs:
            c = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip container
            compressed += len(c.compress(data)) + len(c.flush())
        seconds = max(time.process_time() - t0, 1e-9)
        out.append({"level": level, "mbps": total / 1e6 / seconds, "ratio": total / max(compressed, 1),
                    "bytes": total})
    return out


def table(rows: dict[str, list[dict]]) -> str:
    if not rows:
        return "_not measured_"
    lines = ["| corpus | level | input MB/s (one core) | ratio |", "|---|---:|---:|---:|"]
    for corpus, levels in rows.items():
        for r in levels:
            lines.append(f"| {corpus} | {r['level']} | {r['mbps']:.1f} | {r['ratio']:.2f} |")
    return "\n".join(lines)
