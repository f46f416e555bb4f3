"""CI's check of README's demo command: its outputs exist, the database is sound, and the status report lists exactly
the simulated world's unpublished reports.

    .venv/bin/python tests/check_demo.py demo     # after `bash scripts/demo.sh`

A report counts as unpublished when the world never published it by its deadline, or published it only at a link
that is dead (nobody can read it). Exit 0 when every check holds, else 1 with the reasons.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any


def unpublished(truth: dict[str, Any]) -> set[tuple[str, int]]:
    today = date.fromisoformat(truth["today"])
    missing = set()
    for unit in truth["units"]:
        for report in unit["reports"]:
            readable = report.get("published") and set(report["urls"]) - set(report["dead_urls"])
            if not readable and date.fromisoformat(report["deadline"]) < today:
                missing.add((unit["unit_id"], report["year"]))
    return missing


def problems(directory: Path) -> list[str]:
    found = []
    for name in ("nianbao.db", "status.html", "status.json", "nianbao.log", "units.csv", "truth.json"):
        if not (directory / name).is_file() or (directory / name).stat().st_size == 0:
            found.append(f"{directory / name} missing or empty")
    if not any((directory / "store").rglob("*")):
        found.append("the document store is empty")
    if found:
        return found
    with sqlite3.connect(directory / "nianbao.db") as db:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            found.append("database integrity_check failed")
        outcome = db.execute("SELECT outcome FROM scheduler_runs ORDER BY cycle_id DESC LIMIT 1").fetchone()
        if outcome != ("finished",):
            found.append(f"the demo's cycle ended {outcome}")
    status = json.loads((directory / "status.json").read_text(encoding="utf-8"))
    listed = {(f["unit"], f["year"]) for f in status["findings"] if f["rule"] == "not_published"}
    truth = json.loads((directory / "truth.json").read_text(encoding="utf-8"))
    expected = unpublished(truth)
    if not expected:
        found.append("the world has no unpublished report: nothing was checked")
    if listed != expected:
        found.append(f"not_published lists {len(listed)} unit-years, the world has {len(expected)}: "
                     f"missing {sorted(expected - listed)[:10]}, wrongly listed {sorted(listed - expected)[:10]}")
    page = (directory / "status.html").read_text(encoding="utf-8")
    names = {u["unit_id"]: u["name"] for u in truth["units"]}
    absent = sorted({names[unit] for unit, _ in expected if names[unit] not in page})
    if absent:
        found.append(f"status.html does not name {absent[:10]}")
    return found


def main() -> int:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "demo")
    found = problems(directory)
    for problem in found:
        print(f"demo check: {problem}", file=sys.stderr)
    if not found:
        print(f"demo check: ok — outputs in {directory}, the status report lists the world's unpublished reports")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
