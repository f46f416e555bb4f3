"""A report as a unit prints it: ReportDocument → A4 pages of positioned lines and ruled cells, drawn as a PDF
(simulator/pdf.py, the CJK font embedded) or, for one table, as a scanned picture (Pillow, with a scanner's noise).

The layout is computed once, in points, and both drawings follow it, so the PDF and the pictures show the same
cells. Prose wraps at the right margin with the first line of a paragraph indented two characters, headings
start at the margin, tables are ruled on every cell (merged cells are one rectangle) and start on a new page
when they do not fit; a table taller than a page is cut between rows that no merged cell joins. Every page has
a «— N —» footer.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from simulator.pdf import BoxOp, Font, TextOp, load_font, write_pdf
from simulator.render import LABEL, PAD, Heading, LayoutCell, LayoutTable, ReportDocument, document_blocks, placed_rows

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
PAGE_WIDTH, PAGE_HEIGHT = 595.28, 841.89  # A4 in points
SIDE_MARGIN, TOP_MARGIN, BOTTOM_MARGIN = 70.9, 72.0, 72.0
TITLE_SIZE, HEADING_SIZE, BODY_SIZE, FOOTER_SIZE = 18.0, 14.0, 12.0, 10.5
_LINE_SPACING = 1.6  # prose line height / font size
_CELL_SPACING = 1.3
_CELL_PADDING = 3.0
_COLUMN_WEIGHTS = {"三": (1.3, 2.4, 4.6, *(1.6,) * 7)}  # 二: 3 for 信息内容, 2 for each number; 四: equal
_TABLE_TEXT_SIZE = {"二": 10.5, "三": 9.0, "四": 9.0}
_SCAN_DPI = 200
_ASCENT = 0.86  # baseline below the top of the em box, in ems
_ASCII_RUN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class PrintedLine:
    """One line of text: `top` is the top of its em box, in points from the top of the sheet."""

    x: float
    top: float
    size: float
    text: str


@dataclass(frozen=True)
class Frame:
    """A ruled rectangle: one table cell, merged cells being one."""

    x0: float
    top: float
    x1: float
    bottom: float


@dataclass
class Sheet:
    width: float
    height: float
    lines: list[PrintedLine] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- text metrics


def font() -> Font:
    return load_font(FONT_FILE)


def text_width(text: str, size: float) -> float:
    return font().width(text, size)


def _tokens(text: str) -> list[str]:
    """Pieces a line may break between: single characters, except that numbers and Latin words stay whole."""
    out: list[str] = []
    position = 0
    for match in _ASCII_RUN.finditer(text):
        out.extend(text[position : match.start()])
        out.append(match.group())
        position = match.end()
    out.extend(text[position:])
    return out


def wrap(text: str, width: float, size: float, first_indent: float = 0.0) -> list[str]:
    """Greedy line breaking; explicit "\\n" breaks stay. A piece wider than a line is put on a line alone."""
    lines: list[str] = []
    for part in text.split("\n"):
        line, used, room = "", 0.0, width - (first_indent if not lines else 0.0)
        for token in _tokens(part):
            w = text_width(token, size)
            if line and used + w > room + 0.01:
                lines.append(line)
                line, used, room = "", 0.0, width
            line += token
            used += w
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class GridCell:
    """A printed cell where it starts: row, column, and the cell (rowspan/colspan)."""

    row: int
    col: int
    cell: LayoutCell


def grid_cells(table: LayoutTable) -> list[GridCell]:
    return [GridCell(r, col, cell) for r, line in enumerate(placed_rows(table)) for col, cell in line if cell is not None]


def covering(table: LayoutTable) -> list[list[GridCell]]:
    """For each row and column, the cell printed there (a merged cell at every position it covers; an empty cell
    where a row has fewer cells than the table)."""
    out: list[list[GridCell | None]] = [[None] * table.width for _ in table.rows]
    for placed in grid_cells(table):
        for r in range(placed.row, placed.row + placed.cell.rowspan):
            for c in range(placed.col, placed.col + placed.cell.colspan):
                out[r][c] = placed
    return [[p or GridCell(r, c, LayoutCell(PAD, "", "")) for c, p in enumerate(row)] for r, row in enumerate(out)]


def column_widths(table: LayoutTable, width: float) -> list[float]:
    weights = _COLUMN_WEIGHTS.get(table.numeral) or ((1.0,) * table.width if table.numeral == "四" else (3.0, *(2.0,) * (table.width - 1)))
    total = sum(weights)
    return [width * w / total for w in weights]


@dataclass
class TableLayout:
    """A table placed at x = 0, top = 0: its column edges, row edges, cells and their text lines."""

    xs: list[float]
    ys: list[float]
    frames: list[Frame]
    lines: list[PrintedLine]
    frame_rows: list[tuple[int, int]]  # first and last row of each frame
    size: float

    @property
    def height(self) -> float:
        return self.ys[-1]

    def cuts(self) -> list[int]:
        """Row indexes a page may end before: no merged cell runs over them."""
        return [r for r in range(1, len(self.ys) - 1) if not any(a < r <= b for a, b in self.frame_rows)]


def layout_table(table: LayoutTable, width: float) -> TableLayout:
    size = _TABLE_TEXT_SIZE[table.numeral]
    line_height = size * _CELL_SPACING
    widths = column_widths(table, width)
    xs = [sum(widths[:i]) for i in range(len(widths) + 1)]
    cells = grid_cells(table)
    wrapped = {}
    for placed in cells:
        inner = xs[placed.col + placed.cell.colspan] - xs[placed.col] - 2 * _CELL_PADDING
        wrapped[placed] = wrap(placed.cell.text, inner, size) if placed.cell.text else []
    rows = len(table.rows)
    heights = [line_height + 2 * _CELL_PADDING] * rows
    for placed in sorted(cells, key=lambda p: p.cell.rowspan):
        span = range(placed.row, placed.row + placed.cell.rowspan)
        need = len(wrapped[placed]) * line_height + 2 * _CELL_PADDING - sum(heights[r] for r in span)
        if need > 0:
            for r in span:
                heights[r] += need / len(span)
    ys = [sum(heights[:i]) for i in range(rows + 1)]
    frames, lines, frame_rows = [], [], []
    for placed in cells:
        cell = placed.cell
        x0, x1 = xs[placed.col], xs[placed.col + cell.colspan]
        top, bottom = ys[placed.row], ys[placed.row + cell.rowspan]
        frames.append(Frame(x0, top, x1, bottom))
        frame_rows.append((placed.row, placed.row + cell.rowspan - 1))
        texts = wrapped[placed]
        y = top + (bottom - top - len(texts) * line_height) / 2 + (line_height - size) / 2
        for text in texts:
            w = text_width(text, size)
            left = x0 + _CELL_PADDING if cell.kind == LABEL and len(texts) == 1 else (x0 + x1 - w) / 2
            lines.append(PrintedLine(left, y, size, text))
            y += line_height
    return TableLayout(xs, ys, frames, lines, frame_rows, size)


def _moved(layout: TableLayout, dx: float, dy: float, first: int, last: int) -> tuple[list[Frame], list[PrintedLine]]:
    """The frames of rows first..last-1 (and their text), moved by (dx, dy) and with the rows above cut off."""
    top, bottom = layout.ys[first], layout.ys[last]
    frames = [
        Frame(f.x0 + dx, f.top - top + dy, f.x1 + dx, f.bottom - top + dy)
        for f, (a, _) in zip(layout.frames, layout.frame_rows, strict=True)
        if first <= a < last
    ]
    lines = [PrintedLine(ln.x + dx, ln.top - top + dy, ln.size, ln.text) for ln in layout.lines if top <= ln.top < bottom]
    return frames, lines


# ---------------------------------------------------------------------------------------------------- pages


def _digest(doc: ReportDocument) -> str:
    return hashlib.sha256(f"{doc.unit}|{doc.year}|{doc.title}".encode()).hexdigest()


class _Pages:
    def __init__(self, footer: str) -> None:
        self.footer = footer
        self.sheets: list[Sheet] = []
        self.y = 0.0
        self.new_page()

    @property
    def bottom(self) -> float:
        return PAGE_HEIGHT - BOTTOM_MARGIN

    @property
    def sheet(self) -> Sheet:
        return self.sheets[-1]

    def new_page(self) -> None:
        sheet = Sheet(PAGE_WIDTH, PAGE_HEIGHT)
        number = self.footer.format(len(self.sheets) + 1)
        sheet.lines.append(PrintedLine((PAGE_WIDTH - text_width(number, FOOTER_SIZE)) / 2, PAGE_HEIGHT - 48, FOOTER_SIZE, number))
        self.sheets.append(sheet)
        self.y = TOP_MARGIN

    def text(self, text: str, size: float, *, indent: float = 0.0, centred: bool = False) -> None:
        width = PAGE_WIDTH - 2 * SIDE_MARGIN
        height = size * _LINE_SPACING
        for i, line in enumerate(wrap(text, width, size, indent)):
            if self.y + height > self.bottom:
                self.new_page()
            x = (PAGE_WIDTH - text_width(line, size)) / 2 if centred else SIDE_MARGIN + (indent if i == 0 else 0.0)
            self.sheet.lines.append(PrintedLine(x, self.y + (height - size) / 2, size, line))
            self.y += height

    def table(self, table: LayoutTable) -> None:
        layout = layout_table(table, PAGE_WIDTH - 2 * SIDE_MARGIN)
        self.y += 6
        room = self.bottom - self.y
        if layout.height > room and layout.height <= self.bottom - TOP_MARGIN:
            self.new_page()
        first = 0
        rows = len(layout.ys) - 1
        while first < rows:
            room = self.bottom - self.y
            fitting = [r for r in [*layout.cuts(), rows] if r > first and layout.ys[r] - layout.ys[first] <= room]
            if not fitting:
                if self.y > TOP_MARGIN:  # nothing fits below the text already on the page
                    self.new_page()
                    continue
                fitting = [next(r for r in [*layout.cuts(), rows] if r > first)]  # taller than a page: overflow
            last = fitting[-1]
            frames, lines = _moved(layout, SIDE_MARGIN, self.y, first, last)
            self.sheet.frames.extend(frames)
            self.sheet.lines.extend(lines)
            self.y += layout.ys[last] - layout.ys[first]
            first = last
            if first < rows:
                self.new_page()
        self.y += 8


def page_layout(doc: ReportDocument) -> list[Sheet]:
    """The report on A4 pages."""
    rng = random.Random(_digest(doc))
    pages = _Pages(rng.choice(("— {} —", "- {} -", "第{}页")))
    for line in doc.title.split("\n"):
        if line.strip():
            pages.text(line.strip(), TITLE_SIZE, centred=True)
    pages.y += BODY_SIZE
    for block in document_blocks(doc):
        if isinstance(block, Heading):
            pages.text(block.text, HEADING_SIZE)
        elif isinstance(block, LayoutTable):
            pages.table(block)
        else:
            pages.text(block.text, BODY_SIZE, indent=2 * BODY_SIZE)
    return pages.sheets


def table_sheet(table: LayoutTable, margin: float = 18.0) -> Sheet:
    """One table alone on a sheet of its size, as a picture of it shows it."""
    width = PAGE_WIDTH - 2 * SIDE_MARGIN
    layout = layout_table(table, width)
    frames, lines = _moved(layout, margin, margin, 0, len(layout.ys) - 1)
    return Sheet(width + 2 * margin, layout.height + 2 * margin, lines, frames)


# ---------------------------------------------------------------------------------------------------- PDF


def render_pdf(doc: ReportDocument, *, password: str | None = None) -> bytes:
    """The report as a PDF with a text layer; with `password` it is encrypted and needs it to open."""
    pages = [
        (
            sheet.width,
            sheet.height,
            [TextOp(ln.x, ln.top + _ASCENT * ln.size, ln.size, ln.text) for ln in sheet.lines],
            [BoxOp(f.x0, f.top, f.x1, f.bottom) for f in sheet.frames],
        )
        for sheet in page_layout(doc)
    ]
    return write_pdf(pages, font(), title=doc.title_line, producer="WPS Office", password=password)


# ---------------------------------------------------------------------------------------------------- pictures


@cache
def _image_font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILE), pixels, index=0)


def draw(sheet: Sheet, dpi: int = _SCAN_DPI) -> Image.Image:
    """The sheet printed in black on white, `dpi` pixels per inch."""
    scale = dpi / 72
    image = Image.new("L", (round(sheet.width * scale), round(sheet.height * scale)), 255)
    pen = ImageDraw.Draw(image)
    rule = max(1, round(0.6 * scale))
    for f in sheet.frames:
        pen.rectangle((round(f.x0 * scale), round(f.top * scale), round(f.x1 * scale), round(f.bottom * scale)), outline=0, width=rule)
    for line in sheet.lines:
        pen.text((line.x * scale, line.top * scale), line.text, font=_image_font(round(line.size * scale)), fill=0)
    return image


def scanned(image: Image.Image, seed: str) -> bytes:
    """`image` as an office scanner returns it: a little rotated, blurred, grainy, specked with dust, thresholded
    to black and white (a 1-bit PNG)."""
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    page = image.rotate(float(rng.uniform(-0.4, 0.4)), resample=Image.BICUBIC, fillcolor=255, expand=True)
    page = page.filter(ImageFilter.GaussianBlur(0.5))
    pixels = np.asarray(page, dtype=np.float32) + rng.normal(0, 12, (page.height, page.width)).astype(np.float32)
    pixels[rng.random(pixels.shape) < 0.0004] = 0  # dust specks
    out = io.BytesIO()
    Image.fromarray((pixels > 185).astype(np.uint8) * 255).convert("1").save(out, "PNG", dpi=(_SCAN_DPI, _SCAN_DPI))
    return out.getvalue()


def table_picture(doc: ReportDocument, table: LayoutTable) -> bytes:
    """The scan of one printed table (a report published with its tables as pictures)."""
    return scanned(draw(table_sheet(table)), f"{_digest(doc)}|{table.numeral}")

