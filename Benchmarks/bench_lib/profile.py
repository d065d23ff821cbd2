"""CPU profile of a receiver during one run: `perf record -g -p PID`, top symbols demangled (Swift)."""
from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path


class Profiler:
    def __init__(self, pid: int, out: Path):
        self.out = out
        self.proc = None
        if shutil.which("perf"):
            # cpu-clock (a software event) samples where the virtual machine exposes no hardware counters.
            self.proc = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-p", str(pid),
                                          "-o", str(out)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def top_symbols(data: Path, limit: int = 20) -> list[str]:
    """[(percent, symbol)] lines of the flat profile (self time), Swift names demangled."""
    if not data.exists():
        return []
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,symbol",
                             "-g", "none", "--percent-limit", "0.5"], capture_output=True, text=True, timeout=300)
    lines = [l for l in report.stdout.splitlines() if l.strip() and not l.startswith("#")][:limit]
    if shutil.which("swift"):
        dem = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(lines), capture_output=True,
                             text=True, timeout=60)
        if dem.returncode == 0:
            lines = dem.stdout.splitlines()
    by_dso = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso",
                             "-g", "none", "--percent-limit", "1"], capture_output=True, text=True, timeout=300)
    dsos = [" ".join(l.split()) for l in by_dso.stdout.splitlines() if l.strip() and not l.startswith("#")]
    out = ["by library: " + ", ".join(f"{d.split(' ', 1)[1]} {d.split(' ', 1)[0]}" for d in dsos if " " in d)]
    for line in lines:
        line = " ".join(line.split())
        while line.endswith(" -"):
            line = line[:-2]
        out.append(line[:220])
    return out
