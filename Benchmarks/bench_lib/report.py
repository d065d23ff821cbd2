"""Markdown tables from run results, and BENCHMARKS.md regeneration between markers."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

BEGIN = "<!-- bench:figures:begin -->"
END = "<!-- bench:figures:end -->"


def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def machine_line() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    swift = _first_line(["swift", "--version"])
    dcmtk = _first_line(["/usr/bin/storescp", "--version"]).replace("$", "").strip()
    import boto3
    import moto
    import pydicom
    import pynetdicom

    return (f"{os.cpu_count()} CPU ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}, "
            f"{swift}, {dcmtk}, Python {platform.python_version()}, pydicom {pydicom.__version__}, "
            f"pynetdicom {pynetdicom.__version__}, boto3 {boto3.__version__}, moto {moto.__version__}")


class Cell:
    def __init__(self, runs: list[dict]):
        self.runs = runs
        self.ok = [r for r in runs if r["ok"]]

    @property
    def valid(self) -> bool:
        return bool(self.ok)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.ok) if self.ok else 0.0

    def span(self, key: str) -> tuple[float, float]:
        vals = [r[key] for r in self.ok]
        return (min(vals), max(vals)) if vals else (0.0, 0.0)

    def per_instance(self, key: str) -> float:
        return statistics.median(r[key] / r["instances"] for r in self.ok) if self.ok else 0.0

    def peak_mib(self) -> float:
        return max(r["peak_rss_kib"] for r in self.ok) / 1024 if self.ok else 0.0

    def error(self) -> str:
        errs = [r["error"] for r in self.runs if not r["ok"]]
        return errs[0][:160].replace("|", "/") if errs else ""


def group(results: list[dict]) -> dict[tuple[str, int, str], Cell]:
    cells: dict[tuple[str, int, str], list[dict]] = {}
    for r in results:
        cells.setdefault((r["corpus"], r["associations"], r["receiver"]), []).append(r)
    return {k: Cell(v) for k, v in cells.items()}


def _num(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if a > 0 and b > 0 else "–"


def main_table(results: list[dict], labels: dict[str, str], corpora_info: dict[str, str]) -> str:
    cells = group(results)
    lines = [
        "| corpus | assoc | receiver | inst/s median (min–max) | MB/s | peak RSS MiB | CPU ms/inst | "
        "S3 emulator CPU ms/inst | PostgreSQL CPU ms/inst | × DCMTK | × reference | runs ok |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = list(labels)
    for (corpus, assoc) in sorted({(c, a) for c, a, _ in cells}, key=lambda x: (list(corpora_info).index(x[0])
                                                                            if x[0] in corpora_info else 99, x[1])):
        dcmtk = cells.get((corpus, assoc, "dcmtk"))
        ref = cells.get((corpus, assoc, "reference"))
        keys = sorted((k for c, a, k in cells if c == corpus and a == assoc),
                      key=lambda k: order.index(k) if k in order else 99)
        for key in keys:
            cell = cells[(corpus, assoc, key)]
            name = labels.get(key, key)
            if not cell.valid:
                lines.append(f"| {corpus} | {assoc} | {name} | failed: {cell.error()} | | | | | | | | "
                             f"0/{len(cell.runs)} |")
                continue
            lo, hi = cell.span("rate")
            rate = cell.median("rate")
            moto = cell.per_instance("moto_cpu_ms")
            pg = cell.per_instance("postgres_cpu_ms")
            lines.append(
                f"| {corpus} | {assoc} | {name} | {_num(rate)} ({_num(lo)}–{_num(hi)}) | {cell.median('mbps'):.1f} | "
                f"{cell.peak_mib():.0f} | {_num(cell.per_instance('cpu_ms'))} | "
                f"{_num(moto)} | {_num(pg)} | "
                f"{_ratio(rate, dcmtk.median('rate')) if dcmtk and dcmtk.valid else '–'} | "
                f"{_ratio(rate, ref.median('rate')) if ref and ref.valid else '–'} | "
                f"{len(cell.ok)}/{len(cell.runs)} |")
    return "\n".join(lines)


def scaling_table(results: list[dict], labels: dict[str, str], corpus: str, receivers: list[str]) -> str:
    cells = group(results)
    assocs = sorted({a for c, a, _ in cells if c == corpus})
    present = [k for k in receivers if any((corpus, a, k) in cells for a in assocs)]
    if not present:
        return "_no scaling runs_"
    lines = ["| receiver | " + " | ".join(f"{a} assoc" for a in assocs) + " |",
             "|---|" + "---:|" * len(assocs)]
    for key in present:
        row = []
        for a in assocs:
            cell = cells.get((corpus, a, key))
            row.append(f"{cell.median('rate'):.1f}" if cell and cell.valid else ("failed" if cell else ""))
        lines.append(f"| {labels.get(key, key)} | " + " | ".join(row) + " |")
    return "\n".join(lines) + f"\n\ninstances/s on {corpus}, median of the runs."


def memory_table(results: list[dict], labels: dict[str, str]) -> str:
    cells = group(results)
    big = [(a, k, c) for (corp, a, k), c in cells.items() if corp == "big"]
    if not big:
        return "_no big-instance runs_"
    top = max(a for a, _, _ in big)
    lines = ["| receiver | peak RSS MiB (max over runs) | MB/s |", "|---|---:|---:|"]
    for a, k, c in sorted(big, key=lambda x: list(labels).index(x[1]) if x[1] in labels else 99):
        if a != top:
            continue
        lines.append(f"| {labels.get(k, k)} | {c.peak_mib():.0f} | {c.median('mbps'):.1f} |" if c.valid
                     else f"| {labels.get(k, k)} | failed: {c.error()} | |")
    return "\n".join(lines) + f"\n\n{top} instances of the big corpus in flight at once ({top} associations)."


def listener_ratio_table(results: list[dict], labels: dict[str, str]) -> str:
    """The listener ratio: dicom-ingest with the lightest sink on tmpfs vs. storescp writing to tmpfs, same cells."""
    cells = group(results)
    rows = []
    for (corpus, assoc, key), cell in sorted(cells.items()):
        if key != "ingest-tmpfs":
            continue
        anchor = cells.get((corpus, assoc, "dcmtk-tmpfs"))
        if cell.valid and anchor and anchor.valid:
            rows.append(f"| {corpus} | {assoc} | {_num(cell.median('rate'))} | {_num(anchor.median('rate'))} | "
                        f"{_ratio(cell.median('rate'), anchor.median('rate'))} |")
    if not rows:
        return "_no ingest-tmpfs / dcmtk-tmpfs pairs in this run_"
    return "\n".join(["| corpus | assoc | dicom-ingest tmpfs inst/s | storescp tmpfs inst/s | ratio |",
                      "|---|---:|---:|---:|---:|", *rows])


def render(results: list[dict], labels: dict[str, str], corpora_info: dict[str, str], command: str,
           machine: str, started: str, minutes: float, notes: list[str],
           profiles: dict[str, list[str]] | None = None, gzip_rows: dict | None = None,
           floors: dict[str, dict[int, dict]] | None = None) -> str:
    parts = [
        f"Generated by `{command}` on {started} UTC in {minutes:.1f} min.",
        "",
        f"**Machine:** {machine}",
        "",
        "**Corpora:** " + "; ".join(f"{k}: {v}" for k, v in corpora_info.items()),
        "",
        "### Throughput, CPU and memory per cell",
        "",
        main_table([r for r in results if r.get("section") == "main"], labels, corpora_info),
        "",
        "### Scaling (instances/s on ct by number of associations)",
        "",
        scaling_table([r for r in results if r.get("section") in ("main", "scaling")], labels, "ct",
                      [k for k in ("ingest-fs", "dcmtk")
                       if any(r["receiver"] == k and r.get("section") == "scaling" for r in results)]),
        "",
        "### Listener ratio: dicom-ingest on tmpfs vs. DCMTK storescp on tmpfs",
        "",
        listener_ratio_table([r for r in results if r.get("section") == "main"], labels),
        "",
        "### Memory with big instances in flight",
        "",
        memory_table([r for r in results if r.get("section") == "main"], labels),
    ]
    if floors:
        from .floor import table as floor_table

        parts += ["", "### Durable floor: one object fsync and one catalog commit per instance (this disk, no receiver)",
                  "", floor_table(floors, results)]
    if gzip_rows:
        from .gziplevels import table

        parts += ["", "### gzip level trade-off on the corpora (zlib, one core, no receiver)", "", table(gzip_rows)]
    for key, lines in (profiles or {}).items():
        parts += ["", f"### CPU profile: {labels.get(key, key)}, ct, 4 associations (perf, self time)", "",
                  "```", *lines, "```"]
    if notes:
        parts += ["", "### Notes from this run", ""] + [f"- {n}" for n in notes]
    return "\n".join(parts) + "\n"


def write_benchmarks(path: Path, figures: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{figures}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n## Figures\n\n" if text else "# Benchmarks\n\n## Figures\n\n") + block + "\n"
    path.write_text(text)
