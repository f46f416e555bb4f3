"""What the benchmarks measure of a command they run: its output, the CPU seconds and the peak resident memory of its
process tree (a crawl and its extraction workers), sampled from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGESIZE") // 1024
SAMPLE_SECONDS = 0.2

# nianbao's crawl, as `nianbao crawl` runs it: units file, database, file store, settings overrides (JSON); its last line
# of output is the CrawlSummary as JSON.
CRAWL = """
import dataclasses, json, sys
from pathlib import Path
from crawler.run import crawl
summary = crawl(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), settings_overrides=json.loads(sys.argv[4]))
print(json.dumps(dataclasses.asdict(summary)))
"""


@dataclass(frozen=True)
class Measured:
    result: dict[str, Any]  # the command's last line of output, as JSON
    seconds: float  # wall time
    cpu_seconds: float  # the process's own
    children_cpu_seconds: float  # its descendants'
    peak_rss_mib: float  # of the whole tree at once


def process_tree(root: int) -> dict[int, tuple[float, int]]:
    """pid → (CPU seconds, resident KiB) of a process and all its descendants."""
    found: dict[int, tuple[float, int]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry)] = ((int(stat[11]) + int(stat[12])) / _TICKS, int(stat[21]) * _PAGE_KIB)
            children.setdefault(int(stat[1]), []).append(int(entry))
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            tree[pid] = found[pid]
        todo.extend(children.get(pid, []))
    return tree


def measure(name: str, script: str, *args: str, cwd: Path) -> Measured:
    """Run a Python script in a subprocess and measure it (a process's last fifth of a second is not counted)."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=cwd, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu: dict[int, float] = {}
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            tree = process_tree(process.pid)
            for pid, (seconds, _) in tree.items():
                cpu[pid] = seconds
            peak = max(peak, sum(rss for _, rss in tree.values()))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {process.returncode}:\n{err[-3000:]}")
    own = cpu.pop(process.pid, 0.0)
    return Measured(json.loads(out.strip().splitlines()[-1]), time.monotonic() - started, own, sum(cpu.values()),
                    peak / 1024)
