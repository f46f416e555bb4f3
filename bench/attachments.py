"""Attachment reading speed and OCR accuracy over tests/fixtures/attachments; the simulator's rendering speed.

    .venv/bin/python bench/attachments.py [--no-ocr]

Prints ms per PDF page (pdfplumber), per DOCX/DOC/XLSX/XLS file, per OCR page (an A4 page of the
stitched scans), and OCR accuracy: of the seed fields, how many come out exact, null (unsure, left to
the checks) or wrong, using extract.builder on the OCR'd grid. Then ms per file the simulator takes to render
each attachment format (and a table picture) for reports of a world, and what that makes for the attachments of
a 30-portal world. Exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script from anywhere: import the project's packages

import pdfplumber  # noqa: E402
from PIL import Image  # noqa: E402

from extract.attachments import read_attachment  # noqa: E402
from extract.builder import build_report  # noqa: E402
from extract.filetype import sniff  # noqa: E402

ATTACHMENTS = ROOT / "tests" / "fixtures" / "attachments"
SEEDS = ROOT / "tests" / "fixtures" / "seeds"
A4_RATIO = 297 / 210


def timed(data: bytes, kind: str) -> float:
    start = time.perf_counter()
    read_attachment(data, kind)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ocr", action="store_true", help="skip the scans (~20 s per seed)")
    args = parser.parse_args()
    files = sorted(p for p in ATTACHMENTS.iterdir() if p.name[:3].isdigit())

    pdf_ms, pages = 0.0, 0
    for path in (p for p in files if p.suffix == ".pdf"):
        data = path.read_bytes()
        timed(data, "pdf")  # warm-up: imports and caches
        with pdfplumber.open(path) as pdf:
            pages += len(pdf.pages)
        pdf_ms += min(timed(data, "pdf") for _ in range(3))
    print(f"PDF   {pdf_ms / max(pages, 1):7.1f} ms/page  ({pages} pages)")

    for ext in ("docx", "doc", "xlsx", "xls"):
        times = [timed(p.read_bytes(), sniff(p.read_bytes())) for p in files if p.suffix == f".{ext}"]
        if times:
            print(f"{ext.upper():5} {statistics.median(times):7.1f} ms/file  ({len(times)} files)")

    simulator()
    if args.no_ocr:
        return 0
    exact = null = wrong = total = 0
    ocr_ms, ocr_pages = 0.0, 0.0
    for path in (p for p in files if p.name.endswith(".scan.png")):
        seed = path.name.split(".")[0]
        data = path.read_bytes()
        width, height = Image.open(path).size
        start = time.perf_counter()
        grid = read_attachment(data, "png")
        ocr_ms += (time.perf_counter() - start) * 1000
        ocr_pages += height / (width * A4_RATIO)
        want = json.loads((SEEDS / f"{seed}.expected.json").read_text(encoding="utf-8"))["fields"]
        got = build_report(grid, source=path.name).values
        e = sum(got.get(k) == v for k, v in want.items())
        n = sum(got.get(k) is None and v is not None for k, v in want.items())
        w = len(want) - e - n
        print(f"OCR   {seed}: {e}/{len(want)} fields exact, {n} null, {w} wrong")
        exact, null, wrong, total = exact + e, null + n, wrong + w, total + len(want)
    if total:
        print(f"OCR   {ocr_ms / ocr_pages:7.0f} ms/page  ({ocr_pages:.0f} pages)")
        print(f"OCR   fields: {exact / total:.1%} exact, {null / total:.1%} null, {wrong / total:.1%} wrong")
    return 0


def simulator(reports: int = 20) -> None:
    from simulator import build_world
    from simulator.attachments import RENDERERS, table_image_bytes
    from simulator.documents import report_document
    from simulator.world import ATTACHMENT_FORMS

    world = build_world(3, seed=11)
    docs = [report_document(world, r) for u in world.units for r in u.reports.values() if r.visible(world.today)][:reports]
    RENDERERS["pdf"](docs[0])  # warm-up: the font's tables are read once per process
    per_file = {}
    for form, render in [*RENDERERS.items(), ("png", lambda d: table_image_bytes(d, "三"))]:
        start = time.perf_counter()
        for doc in docs:
            render(doc)
        per_file[form] = (time.perf_counter() - start) * 1000 / len(docs)
        what = "the picture of table 三 of " if form == "png" else ""
        print(f"SIM   {form:5} {per_file[form]:7.1f} ms/file to render  ({what}{len(docs)} reports)")
    big = build_world(30, seed=7)
    counts = {form: sum(r.form == form for u in big.units for r in u.reports.values() if r.visible(big.today))
              for form in ATTACHMENT_FORMS}
    total = sum(per_file[form] * n for form, n in counts.items()) / 1000
    print(f"SIM   a 30-portal world's {sum(counts.values())} attachments render in {total:.0f} s "
          + ", ".join(f"{n} {form}" for form, n in counts.items()))


if __name__ == "__main__":
    sys.exit(main())
