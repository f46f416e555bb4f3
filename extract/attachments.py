"""Reading attachments (PDF, Word, spreadsheets, images) into a `Grid`, within limits.

`read_attachment` is the one entry point. Everything here that parses a document runs under the limits
below and fails with `UnreadableDocument` (an `ExtractionError`) and one line saying what and why — never a
traceback, since a crawl reads thousands of files from strangers.

The layout helpers (`Box`, `PlacedTable`, `Line`, `flow`) are shared by the PDF and OCR readers, which
both see a page as positioned text and ruled cells.
"""

from __future__ import annotations

import importlib
import io
import itertools
import os
import re
import signal
import subprocess
import threading
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from extract.model import Block, Cell, ExtractionError, Grid, Paragraph, Table, UnreadableDocument

MAX_BYTES = 50 * 2**20  # a report attachment is rarely over 10 MB; scans of 30 pages reach ~40 MB
MAX_PAGES = 300
MAX_OCR_PAGES = 30  # ~2–4 s per page: a longer scan is not an annual report
MAX_PIXELS = 80_000_000  # per image; a 20-page A4 strip at 200 dpi is ~75 M
MAX_UNZIPPED = 300 * 2**20  # DOCX/XLSX: total declared uncompressed size
MAX_ZIP_RATIO = 200  # per member over 1 MB; Office XML compresses 5–50×, bombs 1000×+
MAX_ZIP_MEMBERS = 20_000
MAX_CELLS = 500_000  # spreadsheet rows × columns actually used
TOOL_TIMEOUT = 120.0  # seconds for one antiword/LibreOffice/pdftoppm/tesseract call
MAX_SECONDS = 300.0  # one attachment, all of it: 30 scanned pages OCR in ~90 s, a PDF of text in under 1 s

_READERS = {
    "pdf": ("extract.pdf", "read_pdf"),
    "docx": ("extract.word", "read_docx"),
    "doc": ("extract.word", "read_doc"),
    "xlsx": ("extract.spreadsheet", "read_xlsx"),
    "xls": ("extract.spreadsheet", "read_xls"),
    "png": ("extract.ocr", "read_image"),
    "jpeg": ("extract.ocr", "read_image"),
}


def read_attachment(data: bytes, kind: str) -> Grid:
    """Read `data` of `kind` (see extract.filetype.sniff) into a Grid or raise UnreadableDocument, within
    MAX_SECONDS."""
    if kind not in _READERS:
        raise ExtractionError(f"{kind!r} is not an attachment format (pdf, docx, doc, xlsx, xls, png, jpeg)")
    check_size(data, kind.upper())
    # Readers are imported on first use: pdfplumber, openpyxl and numpy cost ~0.3 s to import.
    module, name = _READERS[kind]
    reader = getattr(importlib.import_module(module), name)
    try:
        with time_limit(MAX_SECONDS, f"reading the {kind.upper()}"):
            return reader(data)
    except UnreadableDocument:
        raise
    except ExtractionError as exc:  # a file of an attachment format that its reader refused: unreadable
        raise UnreadableDocument(str(exc)) from exc
    except (MemoryError, RecursionError) as exc:
        raise UnreadableDocument(f"{kind.upper()} is too complex to read ({type(exc).__name__})") from exc
    except Exception as exc:  # a parser's own error on a damaged file: report it, don't crash the crawl
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise UnreadableDocument(f"{kind.upper()} is damaged or unreadable: {type(exc).__name__} {detail}".strip()) from exc


class _TooLong(BaseException):
    """Raised by the alarm; a BaseException so that no reader's `except Exception` swallows it."""


@contextmanager
def time_limit(seconds: float, doing: str) -> Iterator[None]:
    """Stop the block after `seconds` with UnreadableDocument. The parsers are Python and cannot be asked to stop,
    so a timer signal interrupts them; it is only available in a process's main thread (extraction workers, the
    command line), elsewhere the block runs unlimited. Any timer already set is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        for tool in list(_RUNNING):  # tools waited on in other threads (OCR batches) end now, not when done
            os.killpg(tool.pid, signal.SIGKILL)
        raise _TooLong

    previous = signal.signal(signal.SIGALRM, expired)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    except _TooLong:
        raise UnreadableDocument(f"{doing} took longer than {seconds:g} s: refused") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # an enclosing timer keeps running for what it has left
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def printable_text(text: str) -> str:
    """Text with control characters (NUL, escape, C1 codes, …) as spaces: a document may hide them in a cell, and
    a space keeps "1\x002" from becoming a confident 12 while labels still match."""
    return _CONTROL_CHARS.sub(" ", text)


def check_size(data: bytes, what: str) -> None:
    if not data:
        raise UnreadableDocument(f"{what} is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise UnreadableDocument(f"{what} is too large: {len(data) // 2**20} MB > {MAX_BYTES // 2**20} MB limit")


def check_zip(data: bytes, what: str) -> None:
    """Refuse zip bombs from the declared sizes before any XML is inflated.

    Python's zipfile stops inflating a member at its declared size (and fails on a CRC mismatch), so
    checking the declared sizes bounds what python-docx/openpyxl can allocate.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionError(f"{what} is not a valid zip container: {exc}") from exc
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ExtractionError(f"{what} has {len(infos)} zip members (> {MAX_ZIP_MEMBERS}): refused as a zip bomb")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED:
        raise ExtractionError(f"{what} would inflate to {total // 2**20} MB (> {MAX_UNZIPPED // 2**20} MB): zip bomb")
    for info in infos:
        if info.file_size > 2**20 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ExtractionError(f"{what} member {info.filename} compresses {ratio}:1 (> {MAX_ZIP_RATIO}:1): zip bomb")
        if info.flag_bits & 0x1:
            raise ExtractionError(f"{what} is encrypted (password-protected zip member {info.filename})")


_RUNNING: set[subprocess.Popen[bytes]] = set()  # external tools running now, in any thread of this process


@dataclass
class ToolResult:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def error_line(self) -> str:
        lines = [ln for ln in self.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1].strip()[:200] if lines else f"exit status {self.returncode}"


def run_tool(args: list[str], *, what: str, timeout: float = TOOL_TIMEOUT, env: dict[str, str] | None = None) -> ToolResult:
    """Run an external program with a timeout that also kills its children (soffice forks soffice.bin)."""
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ExtractionError(f"{what} needs {args[0]}, which is not installed") from exc
    _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ExtractionError(f"{what} timed out after {timeout:.0f} s ({args[0]})") from exc
    except BaseException:  # the attachment's time limit (or a kill) ends the call: end the tool with it
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        _RUNNING.discard(proc)
    return ToolResult(proc.returncode, out, err)


# ---------------------------------------------------------------------------------------------------
# Positioned text → blocks (PDF pages and OCR'd images)

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
# Page numbers as printed in footers: «— 3 —», «- 3 -», «第 3 页», «第3页 共8页», «3 / 8», a bare «3».
# OCR reads the dashes as "一".
_PAGE_NUMBER = re.compile(r"^[\s\-—–－─_·•一]*(第\s*\d+\s*页(\s*[,，]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|\d{1,3})[\s\-—–－─_·•一]*$")
_HEADING = re.compile(r"^\s*([一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)])")


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(unicodedata.normalize("NFKC", text)))


def join_pieces(pieces: list[str]) -> str:
    """Join text pieces that one printed line or cell broke apart: no space between CJK, one otherwise."""
    out = ""
    for piece in (printable_text(p).strip() for p in pieces):
        if not piece:
            continue
        if out and not (_CJK.match(out[-1]) or _CJK.match(piece[0])):
            out += " "
        out += piece
    return out


@dataclass
class Box:
    """One printed table cell (merged cells are one box) in page coordinates."""

    x0: float
    top: float
    x1: float
    bottom: float
    text: str = ""
    confidence: float | None = None


TableRow = list[tuple[str, tuple[int, int] | None, float | None]]  # text, span_of, confidence


@dataclass
class PlacedTable:
    """A ruled table on a page: cells laid on the grid of its column edges `xs`."""

    page: int
    top: float
    xs: list[float]
    rows: list[TableRow]


@dataclass
class Line:
    """One printed line of prose: `size` is the font size (OCR: the line height) in points."""

    page: int
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    images: int = 0


@dataclass
class Page:
    number: int
    width: float
    items: list[Line | PlacedTable] = field(default_factory=list)  # in reading order


def _edges(values: list[float], tol: float) -> list[float]:
    edges: list[float] = []
    for v in sorted(values):
        if not edges or v - edges[-1] > tol:
            edges.append(v)
    return edges


def _nearest(edges: list[float], v: float) -> int:
    return min(range(len(edges)), key=lambda i: abs(edges[i] - v))


def place_table(page: int, boxes: list[Box], tol: float = 2.0) -> PlacedTable | None:
    """Lay merged cells on the grid their edges define; positions a merged cell covers point at it."""
    if not boxes:
        return None
    xs = _edges([b.x0 for b in boxes] + [b.x1 for b in boxes], tol)
    ys = _edges([b.top for b in boxes] + [b.bottom for b in boxes], tol)
    if len(xs) < 2 or len(ys) < 2:
        return None
    rows: list[list[tuple[str, tuple[int, int] | None, float | None]]] = [
        [("", None, None) for _ in range(len(xs) - 1)] for _ in range(len(ys) - 1)
    ]
    for b in sorted(boxes, key=lambda b: (b.top, b.x0)):
        r0, r1 = _nearest(ys, b.top), _nearest(ys, b.bottom)
        c0, c1 = _nearest(xs, b.x0), _nearest(xs, b.x1)
        for r in range(r0, max(r1, r0 + 1)):
            for c in range(c0, max(c1, c0 + 1)):
                rows[r][c] = (b.text, None, b.confidence) if (r, c) == (r0, c0) else ("", (r0, c0), b.confidence)
    return PlacedTable(page, ys[0], xs, rows)


def _regrid(b: PlacedTable, xs: list[float], tol: float) -> PlacedTable | None:
    """`b` laid on the column edges `xs` of the table it may continue, or None if its edges are not among them.

    A continuation can lack some edges (its rows merge cells the first part splits), never add any.
    """
    idx = [min(range(len(xs)), key=lambda i, x=x: abs(xs[i] - x)) for x in b.xs]
    if (
        any(abs(xs[i] - x) > tol for i, x in zip(idx, b.xs, strict=True))
        or idx[0] != 0
        or idx[-1] != len(xs) - 1
        or any(p >= q for p, q in itertools.pairwise(idx))
    ):
        return None
    rows = []
    for r, row in enumerate(b.rows):
        out: TableRow = []
        for j, (text, span, conf) in enumerate(row):
            origin = (span[0], idx[span[1]]) if span else None
            out.append((text, origin, conf))
            out.extend(("", origin or (r, idx[j]), conf) for _ in range(idx[j] + 1, idx[j + 1]))
        rows.append(out)
    return PlacedTable(b.page, b.top, list(xs), rows)


_ENUMERATED = re.compile(r"^\s*([（(]?[一二三四五六七八九十\d]+[)）、.．]|[一二三四五六七八九十]+是)")


def _vertical(rows: list[TableRow], r: int, c: int) -> bool:
    """Whether the cell at (r, c) is part of a vertical merge."""
    span = rows[r][c][1]
    below = rows[r + 1][c][1] if r + 1 < len(rows) else None
    return (span is not None and span[0] < r) or below == (span or (r, c))


def _continue(a: PlacedTable, b: PlacedTable) -> None:
    """Append table `b` (the part of `a` printed on the next page) to `a`."""
    rows = b.rows
    # Heading rows repeated at the top of the new page (Word's "repeat header row") are not data.
    head = 0
    while head < min(len(rows), len(a.rows)) and [c[0] for c in rows[head]] == [c[0] for c in a.rows[head]]:
        head += 1
    if any(_has_digit(text) for row in rows[:head] for text, _, _ in row):
        head = 0
    rows = rows[head:]
    offset = len(a.rows) - head
    moved: dict[tuple[int, int], tuple[int, int]] = {}  # origin in b → origin in a, for cells cut by the page
    if rows and a.rows:
        last, first = len(a.rows) - 1, rows[0]
        # A data row cut by the page: no numbers left for the new page, only the end of its label.
        whole_row = (
            any(_has_digit(t) for t, _, _ in a.rows[last])
            and not any(_has_digit(t) for t, _, _ in first)
            and all(a.rows[last][c][1] is None and _CJK.search(a.rows[last][c][0]) for c, (t, _, _) in enumerate(first) if t)
            and all((x[1] is None) == (y[1] is None) for x, y in zip(a.rows[last], first, strict=True))
        )
        for c, (text, span, _) in enumerate(first):
            mine = a.rows[last][c][1] or (last, c)
            above = a.rows[mine[0]][mine[1]][0]
            if span is not None or not above or not _CJK.search(above) or _ENUMERATED.match(text):
                continue
            # Word cuts a merged label (and any row, unless told not to) at the page end: its rest opens the
            # next page as an empty cell or as the label's last characters.
            if whole_row or _vertical(b.rows, head, c) or _vertical(a.rows, last, c):
                moved[(head, c)] = mine
                if text:
                    a.rows[mine[0]][mine[1]] = (join_pieces([above, text]), None, a.rows[mine[0]][mine[1]][2])
    # The top row is dropped when nothing of it is left: it was the rest of the previous page's last row.
    skip = bool(rows and moved) and all((s or (head, c)) in moved or not t for c, (t, s, _) in enumerate(rows[0]))
    offset -= skip
    for i, row in enumerate(rows[skip:], start=skip):
        out: TableRow = []
        for c, (t, s, conf) in enumerate(row):
            origin = s or (i + head, c)
            if origin in moved:
                out.append(("", moved[origin], conf))
            else:
                out.append((t, (s[0] + offset, s[1]) if s else None, conf))
        a.rows.append(out)


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def flow(pages: list[Page]) -> list[Block]:
    """Blocks in reading order: prose lines joined into paragraphs, tables continued across pages merged,
    page numbers dropped."""
    items: list[Line | PlacedTable] = []
    page_break = False  # a page ended since the last item: a new page, or a footer inside a stitched scan
    for page in pages:
        page_break = bool(items)
        for item in page.items:
            if isinstance(item, Line) and is_page_number(item.text):
                page_break = True
                continue
            previous = items[-1] if items else None
            regridded = (
                _regrid(item, previous.xs, tol=0.01 * page.width)
                if page_break and isinstance(item, PlacedTable) and isinstance(previous, PlacedTable)
                else None
            )
            if regridded is not None:
                _continue(previous, regridded)
            else:
                items.append(item)
            page_break = False

    blocks: list[Block] = []
    para: list[Line] = []

    def close() -> None:
        if para:
            blocks.append(Paragraph(join_pieces([ln.text for ln in para]), images=sum(ln.images for ln in para)))
            para.clear()

    margins = _margins(pages)
    for item in items:
        if isinstance(item, PlacedTable):
            close()
            blocks.append(_to_table(item, len([b for b in blocks if isinstance(b, Table)])))
            continue
        if para and _starts_paragraph(para[-1], item, margins):
            close()
        para.append(item)
    close()
    return blocks


def _margins(pages: list[Page]) -> dict[int, tuple[float, float]]:
    """Per page: the left and right edges of the prose text column."""
    out = {}
    for page in pages:
        lines = [i for i in page.items if isinstance(i, Line)]
        if lines:
            out[page.number] = (min(ln.x0 for ln in lines), max(ln.x1 for ln in lines))
    return out


def _starts_paragraph(prev: Line, line: Line, margins: dict[int, tuple[float, float]]) -> bool:
    left, right = margins[line.page]
    size = max(prev.size, line.size, 1.0)
    if abs(prev.size - line.size) > 0.15 * size or _HEADING.match(line.text):
        return True
    if line.x0 - left > 0.8 * size:
        # A title wrapped over centred lines continues; an indented first line starts a paragraph.
        centred = right - line.x1 > 0.8 * size and abs((line.x0 + line.x1) / 2 - (prev.x0 + prev.x1) / 2) < size
        return not centred
    if right - prev.x1 > 2 * size:  # the previous line stopped short: its paragraph ended there
        return True
    return bool(line.page == prev.page and line.top - prev.bottom > 1.2 * size)


def _to_table(placed: PlacedTable, index: int) -> Table:
    rows = [
        [Cell(text, index, r, c, span_of=span, confidence=conf) for c, (text, span, conf) in enumerate(row)]
        for r, row in enumerate(placed.rows)
    ]
    return Table(index, with_span_text(rows))


def with_span_text(rows: list[list[Cell]]) -> list[list[Cell]]:
    """Positions covered by a merged cell repeat its text, as the HTML reader does: a row under a
    rowspan label keeps that label as context."""

    def origin_text(cell: Cell) -> str:
        r, c = cell.span_of  # type: ignore[misc]
        return rows[r][c].text if r < len(rows) and c < len(rows[r]) else ""

    return [[replace(c, text=origin_text(c)) if c.span_of is not None else c for c in row] for row in rows]


def title_lines(pages: list[Page]) -> list[str]:
    """The largest-print prose on the first page with text (the report's title), joined across lines."""
    for page in pages:
        lines = [i for i in page.items if isinstance(i, Line) and not is_page_number(i.text)]
        if not lines:
            continue
        body = sorted(ln.size for ln in lines)[len(lines) // 2]
        big = max(ln.size for ln in lines)
        if big < 1.15 * body:
            return []
        title: list[str] = []
        for ln in lines:
            if ln.size >= 0.95 * big:
                title.append(ln.text)
            elif title:
                break
        return [join_pieces(title)]
    return []


def make_grid(pages: list[Page], extra_titles: list[str] | None = None, images: int = 0) -> Grid:
    titles = [t for t in (extra_titles or []) if t] + title_lines(pages)
    return Grid(blocks=flow(pages), title_candidates=list(dict.fromkeys(titles)), images=images)
