"""HTML → Grid: paragraphs in reading order and data tables with rowspan/colspan expanded.

Word-pasted report pages wrap every cell in <p>/<span>/<font>/<o:p>, split labels across spans and
nest the article in layout tables; all of that reduces to cell text with line breaks kept.
"""

from __future__ import annotations

import re

import lxml.etree

from extract.model import Block, Cell, ExtractionError, Grid, Paragraph, Table
from extract.text import tabulate

MAX_HTML_BYTES = 20 * 1024 * 1024
MAX_TABLE_CELLS = 200_000
MAX_SPAN = 200
MAX_DEPTH = 400

_SKIP = {"script", "style", "noscript", "head", "select", "textarea", "template", "iframe", "object", "svg"}
_BLOCK = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "article", "header", "footer",
    "blockquote", "pre", "dd", "dt", "dl", "center", "form", "nav", "aside", "main", "figure", "figcaption",
    "address", "hr", "tr", "caption", "ucapcontent", "ucaptitle",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.IGNORECASE)
_DATE = re.compile(r"(20\d{2})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
_DATE_LABEL = re.compile(
    r"(?:公开日期|发布日期|发布时间|发文日期|生成日期|日期)\s*[:：]?\s*(20\d{2}\s*[-年/.]\s*\d{1,2}\s*[-月/.]\s*\d{1,2})"
)
_PUBLISHER_LABEL = re.compile(r"(?:发布机构|发文机关|来源)\s*[:：]?\s*([^\s:：|]{2,30})")
_DATE_METAS = ("pubdate", "publishdate", "firstpublishedtime", "article:published_time", "pub_date", "publishtime")
_PARSER = lxml.etree.HTMLParser(recover=True, no_network=True, remove_comments=True, remove_pis=True)


def decode_html(data: bytes) -> str:
    """Strict UTF-8 first, then what the page says, then gb18030: portals mislabel GBK pages often
    (dependency_notes.md), and a strict UTF-8 decode of GBK bytes fails reliably."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(data[:4096])
    charset = declared.group(1).decode("ascii", "ignore").lower() if declared else ""
    if charset in ("big5", "big5-hkscs"):
        return data.decode("big5hkscs", errors="replace")
    return data.decode("gb18030", errors="replace")


def iso_date(text: str) -> str | None:
    match = _DATE.search(text)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


class _Reader:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.line: list[str] = []
        self.line_images = 0
        self.images = 0

    def text(self, text: str | None) -> None:
        if text:
            self.line.append(text)

    def newline(self) -> None:
        raw = "".join(self.line)
        text = raw.strip()
        if text or self.line_images:
            self.blocks.append(Paragraph(text, images=self.line_images))
        elif "\xa0" in raw or "\u3000" in raw:
            # <p>&nbsp;</p>: an empty line that was printed, which may be a blank table cell
            self.blocks.append(Paragraph(""))
        self.line, self.line_images = [], 0

    def walk(self, element: lxml.etree._Element, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise ExtractionError(f"HTML nested deeper than {MAX_DEPTH} elements")
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.lower().split(":")[-1]
        if not tag or tag in _SKIP:
            return
        if tag == "table":
            if _is_layout_table(element):
                for cell in element.iter("td", "th"):
                    if _enclosing_table(cell) is element:
                        self.newline()
                        self._walk_children(cell, depth)
                        self.newline()
            else:
                self.newline()
                self.blocks.append(_read_table(element, sum(isinstance(b, Table) for b in self.blocks)))
            return
        if tag == "img":
            self.line_images += 1
            self.images += 1
        if tag == "br":
            self.newline()
        block = tag in _BLOCK
        if block:
            self.newline()
        self._walk_children(element, depth)
        if block:
            self.newline()

    def _walk_children(self, element: lxml.etree._Element, depth: int) -> None:
        self.text(element.text)
        for child in element:
            self.walk(child, depth + 1)
            self.text(child.tail)


def _enclosing_table(element: lxml.etree._Element) -> lxml.etree._Element | None:
    parent = element.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent


def _is_layout_table(table: lxml.etree._Element) -> bool:
    """A table that holds other tables, or one big cell, frames the page rather than holding data."""
    cells = [c for c in table.iter("td", "th") if _enclosing_table(c) is table]
    if any(c.find(".//table") is not None for c in cells):
        return True
    return len(cells) <= 1


def _cell_text(cell: lxml.etree._Element) -> str:
    # Line breaks were put into the tails of <br> and block elements by _mark_line_breaks.
    lines = (line.strip() for line in "".join(cell.itertext()).splitlines())
    return "\n".join(line for line in lines if line)


def _mark_line_breaks(root: lxml.etree._Element) -> None:
    for element in root.iter("br", *_BLOCK):
        element.tail = "\n" + (element.tail or "")


def _span(cell: lxml.etree._Element, name: str) -> int:
    if cell.get(name) is None:
        return 1
    try:
        value = int(re.sub(r"\D", "", cell.get(name, "1")) or 1)
    except ValueError:
        return 1
    return max(1, min(value, MAX_SPAN))


def _read_table(table: lxml.etree._Element, index: int) -> Table:
    rows = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
    occupied: dict[tuple[int, int], Cell] = {}
    for r, tr in enumerate(rows):
        c = 0
        for cell in tr:
            if not isinstance(cell.tag, str) or cell.tag.lower() not in ("td", "th"):
                continue
            while (r, c) in occupied:
                c += 1
            text = _cell_text(cell)
            rowspan = min(_span(cell, "rowspan"), len(rows) - r)
            colspan = _span(cell, "colspan")
            if len(occupied) + rowspan * colspan > MAX_TABLE_CELLS:
                raise ExtractionError(f"table {index} has more than {MAX_TABLE_CELLS} cells")
            for dr in range(rowspan):
                for dc in range(colspan):
                    origin = None if dr == dc == 0 else (r, c)
                    occupied[(r + dr, c + dc)] = Cell(text, index, r + dr, c + dc, span_of=origin)
            c += colspan
    grid_rows: list[list[Cell]] = [[] for _ in rows]
    for (r, _c), cell in sorted(occupied.items()):
        grid_rows[r].append(cell)
    return Table(index, [row for row in grid_rows if row])


def _metadata(root: lxml.etree._Element, grid: Grid) -> None:
    for meta in root.iter("meta"):
        name = (meta.get("name") or meta.get("property") or "").lower()
        content = (meta.get("content") or "").strip()
        if not content:
            continue
        if name in ("articletitle", "title", "og:title"):
            grid.title_candidates.append(content)
        elif name in _DATE_METAS and not grid.published_on:
            grid.published_on = iso_date(content)
        elif name in ("contentsource", "author") and not grid.publisher:
            grid.publisher = content
        elif name == "url" and content.startswith("http"):
            grid.source_url = content
    for tag in ("h1", "ucaptitle", "h2"):
        for element in root.iter(tag):
            text = "".join(element.itertext()).strip()
            if text:
                grid.title_candidates.append(text)
    for element in root.iter("title"):
        grid.title_candidates.extend(p.strip() for p in re.split(r"\s[-_|]\s|[-_|－]", "".join(element.itertext())))
    if not grid.published_on:
        for element in root.iter("publishtime"):
            grid.published_on = iso_date("".join(element.itertext()))
    page_text = " ".join(b.text if isinstance(b, Paragraph) else " ".join(c.text for row in b.rows for c in row)
                         for b in grid.blocks)
    if not grid.published_on:
        match = _DATE_LABEL.search(page_text)
        grid.published_on = iso_date(match.group(1)) if match else None
    if not grid.publisher:
        match = _PUBLISHER_LABEL.search(page_text)
        grid.publisher = match.group(1) if match else None


def read_html(data: bytes) -> Grid:
    if len(data) > MAX_HTML_BYTES:
        raise ExtractionError(f"HTML page of {len(data):,} bytes exceeds the {MAX_HTML_BYTES:,}-byte limit")
    text = decode_html(data).replace("\x00", "")
    try:
        # plain etree elements: lxml.html's element-class lookup costs more than the parse itself
        root = lxml.etree.fromstring(text, _PARSER)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as exc:
        raise ExtractionError(f"unreadable HTML: {exc}") from None
    if root is None:
        raise ExtractionError("unreadable HTML: no document element")
    lxml.etree.strip_elements(root, *_SKIP - {"head"}, with_tail=False)
    _mark_line_breaks(root)
    body = root.find("body")
    reader = _Reader()
    reader.walk(body if body is not None else root)
    reader.newline()
    grid = Grid(tabulate(reader.blocks), images=reader.images)
    _metadata(root, grid)
    return grid
