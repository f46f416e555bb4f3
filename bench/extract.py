"""Extraction speed over the fixtures: median and p95 milliseconds per report, by document kind.

    .venv/bin/python bench/extract.py [--rounds N]

One core, in-process, after one warm-up pass; prints a table and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # this file is named like the package it measures: import the package, not itself

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract import extract_document  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"


def _kind(path: Path) -> str:
    return "html" if path.suffix == ".html" else path.suffix.lstrip(".")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    documents = sorted(p for p in (FIXTURES / "seeds").iterdir() if p.suffix in (".txt", ".html"))
    documents += sorted((FIXTURES / "real").glob("*.html"))
    timings: dict[str, list[float]] = {}
    for path in documents:
        data = path.read_bytes()
        extract_document(data, filename=path.name)
        for _ in range(args.rounds):
            start = time.perf_counter()
            extract_document(data, filename=path.name)
            timings.setdefault(_kind(path), []).append((time.perf_counter() - start) * 1000)
            timings.setdefault(f"  {path.name} ({len(data) // 1024} KiB)", []).append(timings[_kind(path)][-1])
    table = Table(title=f"extraction, ms per report ({args.rounds} rounds, one core)")
    for column in ("documents", "median ms", "p95 ms", "reports/s"):
        table.add_column(column, justify="right" if column != "documents" else "left")
    for name, values in timings.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        median = statistics.median(values)
        table.add_row(name, f"{median:.2f}", f"{p95:.2f}", f"{1000 / median:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
