"""Attachment reading speed and OCR accuracy over tests/fixtures/attachments.

    .venv/bin/python bench/attachments.py [--no-ocr]

Prints ms per PDF page (pdfplumber), per DOCX/DOC/XLSX/XLS file, per OCR page (an A4 page of the
stitched scans), and OCR accuracy: of the seed fields, how many come out exact, null (unsure, left to
the checks) or wrong, using extract.builder on the OCR'd grid. Exits 0.
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


if __name__ == "__main__":
    sys.exit(main())
