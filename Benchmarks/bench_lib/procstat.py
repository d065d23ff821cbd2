"""Process measurements from /proc (no psutil): CPU time and resident memory of a process or process tree."""
from __future__ import annotations

import os
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    # comm may contain spaces: split after the closing parenthesis.
    return text[text.rfind(")") + 2:].split()


def cpu_ms(pid: int, include_reaped_children: bool = True) -> float:
    """utime + stime (+ cutime + cstime of waited-for children) in milliseconds; 0 if gone."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(f[11]) + int(f[12])
    if include_reaped_children:
        ticks += int(f[13]) + int(f[14])
    return ticks * 1000.0 / TICKS


def children(pid: int) -> list[int]:
    """Direct and indirect children of pid (scans /proc; used only for forking receivers)."""
    parent_of: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f is not None:
            parent_of[int(entry.name)] = int(f[1])
    out, frontier = [], [pid]
    for _ in range(4):  # bounded depth
        nxt = [p for p, pp in parent_of.items() if pp in frontier]
        if not nxt:
            break
        out.extend(nxt)
        frontier = nxt
    return out


def tree_cpu_ms(pid: int) -> float:
    return cpu_ms(pid) + sum(cpu_ms(c, include_reaped_children=False) for c in children(pid))


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB; (0, 0) if gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


class PeakMemory:
    """Samples the receiver's resident memory until stopped.

    Single process: its VmHWM (the kernel's own peak, so nothing between samples is missed).
    Tree (forking receivers such as storescp --fork): the largest sum of VmRSS over the tree seen in the
    samples, and at least the largest VmHWM of any one member.
    """

    def __init__(self, pid: int, tree: bool, interval: float = 0.02):
        self.pid, self.tree, self.interval = pid, tree, interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            self._sample()
        return self.peak_kb

    def _sample(self) -> None:
        if not self.tree:
            self.peak_kb = max(self.peak_kb, rss_kb(self.pid)[1])
            return
        total = 0
        for p in [self.pid, *children(self.pid)]:
            rss, hwm = rss_kb(p)
            total += rss
            self.peak_kb = max(self.peak_kb, hwm)
        self.peak_kb = max(self.peak_kb, total)

    def _run(self) -> None:
        deadline = time.monotonic() + 3600
        # A single process keeps its own peak (VmHWM): sampling only has to catch its exit.
        interval = 0.2 if not self.tree else max(self.interval, 0.05)
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._sample()
            self._stop.wait(interval)
