"""PDF → Grid with pdfplumber: ruled tables cell by cell, borderless tables from word positions, prose.

pdfplumber's own `extract_text` reads a row of narrow header cells line by line across the row ("结 结 其
尚 / 果 果 他 未"), so cell text is rebuilt here from the characters inside each cell's rectangle, top line
to bottom line. Pages without a text layer (scans) go to OCR.
"""

from __future__ import annotations

import io
import itertools
import re
import statistics
import zlib

import pdfplumber
from pdfminer.pdfdocument import PDFPasswordIncorrect
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFSyntaxError
from pdfminer.psparser import PSException
from pdfplumber.utils.exceptions import PdfminerException

from extract.attachments import (
    MAX_OCR_PAGES,
    MAX_PAGES,
    Box,
    Line,
    Page,
    PlacedTable,
    join_pieces,
    make_grid,
    place_table,
)
from extract.model import ExtractionError, Grid

Char = dict  # a pdfplumber character: text, x0, x1, top, bottom, size, upright …

SEGMENT_GAP = 0.8  # a gap wider than this many character widths separates borderless table columns


MAX_OBJECTS = 200_000  # a report PDF has hundreds; a 30-page scan a few hundred
MAX_STREAM_BYTES = 100 * 2**20  # one stream inflated; a page scanned at 300 dpi in colour is ~25 MB
_DECLARED_SIZE = re.compile(rb"/Size\s+(\d{1,12})")
_STREAM = re.compile(rb"stream\r?\n")


def check_pdf(data: bytes) -> None:
    """Refuse, before parsing, what would take the parser minutes or gigabytes: millions of objects declared, and
    Flate streams that inflate past MAX_STREAM_BYTES (inflated in 1 MB steps, never held whole)."""
    for match in _DECLARED_SIZE.finditer(data):
        if int(match.group(1)) > MAX_OBJECTS:
            raise ExtractionError(f"PDF declares {int(match.group(1)):,} objects (> {MAX_OBJECTS:,}): refused")
    for match in _STREAM.finditer(data):
        end = data.find(b"endstream", match.end())
        pending = memoryview(data)[match.end() : end if end >= 0 else len(data)]
        inflater, inflated = zlib.decompressobj(), 0
        try:
            while pending and not inflater.eof:
                inflated += len(inflater.decompress(pending, 2**20))
                pending = inflater.unconsumed_tail
                if inflated > MAX_STREAM_BYTES:
                    raise ExtractionError(f"PDF stream inflates past {MAX_STREAM_BYTES // 2**20} MB: a decompression bomb")
        except zlib.error:
            continue  # not Flate-encoded (images, plain text): nothing to inflate


def check_pages(pdf: pdfplumber.PDF) -> None:
    """Refuse more than MAX_PAGES pages, walking the page tree no further (its /Count may lie, and pdfplumber
    would build every page first)."""
    for count, _ in enumerate(PDFPage.create_pages(pdf.doc), start=1):
        if count > MAX_PAGES:
            raise ExtractionError(f"PDF has more than {MAX_PAGES} pages: not an annual report")


def read_pdf(data: bytes) -> Grid:
    check_pdf(data)
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
        with pdf:
            check_pages(pdf)
            pages = [read_page(p, i) for i, p in enumerate(pdf.pages)]
            scanned = [i for i, p in enumerate(pdf.pages) if not p.chars and p.images]
            images = sum(len(p.images) for p in pdf.pages if p.chars)
            meta_title = str(pdf.metadata.get("Title") or "").strip()
    except PdfminerException as exc:
        # pdfplumber wraps pdfminer's own exception as the first argument
        cause = exc.args[0] if exc.args else exc
        if isinstance(cause, PDFPasswordIncorrect):
            raise ExtractionError("PDF is encrypted: it needs a password to open") from exc
        raise ExtractionError(f"PDF is damaged or not a PDF: {type(cause).__name__} {cause}".strip()) from exc
    except (PDFSyntaxError, PSException) as exc:
        raise ExtractionError(f"PDF is damaged or not a PDF: {type(exc).__name__} {exc}".strip()) from exc
    if scanned:
        if len(scanned) > MAX_OCR_PAGES:
            raise ExtractionError(f"PDF has {len(scanned)} scanned pages (> {MAX_OCR_PAGES} to OCR)")
        from extract.ocr import ocr_pdf_pages  # numpy and Tesseract only when a scan needs them

        for page in ocr_pdf_pages(data, scanned):
            pages[page.number] = page
    # Producers put file names ("Microsoft Word - 1.docx") in Title; only a Chinese title is a candidate.
    titles = [meta_title] if any("\u4e00" <= ch <= "\u9fff" for ch in meta_title) else []
    return make_grid(pages, titles, images)


def read_page(page: pdfplumber.page.Page, number: int) -> Page:
    out = Page(number, float(page.width))
    rest = [c for c in page.chars if c["text"].strip()]
    for table in page.find_tables():
        if len(table.cells) < 2:
            continue
        x0, top, x1, bottom = table.bbox
        inside = [c for c in rest if x0 <= (c["x0"] + c["x1"]) / 2 <= x1 and top <= (c["top"] + c["bottom"]) / 2 <= bottom]
        taken = {id(c) for c in inside}
        rest = [c for c in rest if id(c) not in taken]
        boxes = []
        for bx0, btop, bx1, bbottom in table.cells:
            mine = [c for c in inside if bx0 <= (c["x0"] + c["x1"]) / 2 <= bx1 and btop <= (c["top"] + c["bottom"]) / 2 <= bbottom]
            boxes.append(Box(bx0, btop, bx1, bbottom, cell_text(mine)))
        placed = place_table(number, boxes)
        if placed is not None:
            out.items.append(placed)
    out.items.extend(borderless(number, group_lines(rest)))
    out.items.sort(key=lambda i: i.top)
    return out


def group_lines(chars: list[Char]) -> list[list[Char]]:
    """Characters into printed lines (top to bottom, each left to right)."""
    lines: list[list[Char]] = []
    for ch in sorted(chars, key=lambda c: ((c["top"] + c["bottom"]) / 2, c["x0"])):
        mid = (ch["top"] + ch["bottom"]) / 2
        if lines:
            last = lines[-1]
            last_mid = statistics.fmean((c["top"] + c["bottom"]) / 2 for c in last)
            if abs(mid - last_mid) < 0.5 * max(ch["size"], last[0]["size"], 1.0):
                last.append(ch)
                continue
        lines.append([ch])
    return [sorted(line, key=lambda c: c["x0"]) for line in lines]


def _line_text(chars: list[Char]) -> str:
    pieces: list[str] = []
    word = ""
    for prev, ch in zip([None, *chars], chars, strict=False):
        if prev is not None and ch["x0"] - prev["x1"] > 0.3 * ch["size"]:
            pieces.append(word)
            word = ""
        word += ch["text"]
    pieces.append(word)
    return join_pieces(pieces)


def cell_text(chars: list[Char]) -> str:
    """A cell's text: its printed lines top to bottom, joined as they were wrapped (no space in CJK)."""
    return join_pieces([_line_text(line) for line in group_lines(chars)])


def _segments(line: list[Char]) -> list[list[Char]]:
    segs: list[list[Char]] = [[line[0]]]
    for prev, ch in itertools.pairwise(line):
        if ch["x0"] - prev["x1"] > SEGMENT_GAP * max(ch["size"], prev["size"]):
            segs.append([])
        segs[-1].append(ch)
    return segs


def _size(line: list[Char]) -> float:
    return statistics.median(c["size"] for c in line)


def borderless(number: int, lines: list[list[Char]]) -> list[Line | PlacedTable]:
    """Prose lines, except runs of ≥2 lines split by wide gaps into aligned pieces: a table without rules."""
    segs = [_segments(line) for line in lines]
    tabular = [len(s) >= 2 for s in segs]
    for i in range(1, len(lines) - 1):
        # A label centred between the lines of a wrapped header row prints alone on its own line.
        if not tabular[i] and tabular[i - 1] and tabular[i + 1]:
            tabular[i] = lines[i][0]["top"] - lines[i - 1][0]["top"] < 1.5 * _size(lines[i])
    items: list[Line | PlacedTable] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and tabular[j]:
            j += 1
        table = _columns(number, lines[i:j], segs[i:j]) if j - i >= 2 else None
        if table is not None:
            items.append(table)
            i = j
            continue
        line = lines[i]
        top, bottom = min(c["top"] for c in line), max(c["bottom"] for c in line)
        items.append(Line(number, _line_text(line), line[0]["x0"], line[-1]["x1"], top, bottom, _size(line)))
        i += 1
    return items


def _columns(number: int, lines: list[list[Char]], segs: list[list[list[Char]]]) -> PlacedTable | None:
    """Columns are the x-ranges the pieces of multi-piece lines cover; the gaps between them separate columns.
    Tightly spaced lines without digits are one header row wrapped or printed one character per line."""
    spans = sorted((seg[0]["x0"], seg[-1]["x1"]) for row in segs if len(row) >= 2 for seg in row)
    columns: list[list[float]] = []
    for x0, x1 in spans:
        if columns and x0 <= columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    if len(columns) < 2:
        return None
    rows: list[list[str]] = []
    header_top: float | None = None
    for line, row in zip(lines, segs, strict=True):
        cells = [""] * len(columns)
        for seg in row:
            col = max((k for k, (x0, _) in enumerate(columns) if x0 <= seg[-1]["x1"]), default=0)
            col = min(col, next((k for k, (_, x1) in enumerate(columns) if seg[0]["x0"] <= x1), col))
            cells[col] = join_pieces([cells[col], _line_text(seg)])
        top = line[0]["top"]
        digits = any(ch.isdigit() for t in cells for ch in t)
        if (
            rows
            and header_top is not None
            and not digits
            and top - header_top < 1.5 * _size(line)
            and (all(len(t) <= 3 for t in cells) or all(not a for a, b in zip(rows[-1], cells, strict=True) if b))
        ):
            rows[-1] = [join_pieces([a, b]) for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
        header_top = None if digits else top
    xs = [columns[0][0]] + [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(columns)] + [columns[-1][1]]
    top = min(c["top"] for line in lines for c in line)
    return PlacedTable(number, top, xs, [[(t, None, None) for t in row] for row in rows])
