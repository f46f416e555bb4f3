"""HTML → Grid: paragraphs in reading order and data tables with rowspan/colspan expanded.

Word-pasted report pages wrap every cell in <p>/<span>/<font>/<o:p>, split labels across spans and
nest the article in layout tables; all of that reduces to cell text with line breaks kept.

The tree is walked with an explicit stack (no recursion), and a page the parser would cut short (nested
deeper than libxml2 allows, a text node beyond its buffer) is refused, never read half-way.
"""

from __future__ import annotations

import re

import lxml.etree

from extract.limits import MAX_CELLS, MAX_HTML_DEPTH, MAX_HTML_TAGS, MAX_PAGE_BYTES, MAX_SPAN, Deadline
from extract.model import Block, Cell, ExtractionError, Grid, Paragraph, Table, UnreadableDocument
from extract.text import printable, tabulate

_SKIP = {"script", "style", "noscript", "head", "select", "textarea", "template", "iframe", "object", "svg"}
_BLOCK = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "article", "header", "footer",
    "blockquote", "pre", "dd", "dt", "dl", "center", "form", "nav", "aside", "main", "figure", "figcaption",
    "address", "hr", "tr", "caption", "ucapcontent", "ucaptitle",
}
_CELL_TAGS = ("td", "th")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.IGNORECASE)
_DATE = re.compile(r"(20\d{2})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
_DATE_LABEL = re.compile(
    r"(?:公开日期|发布日期|发布时间|发文日期|生成日期|日期)\s*[:：]?\s*(20\d{2}\s*[-年/.]\s*\d{1,2}\s*[-月/.]\s*\d{1,2})"
)
_PUBLISHER_LABEL = re.compile(r"(?:发布机构|发文机关|来源)\s*[:：]?\s*([^\s:：|]{2,30})")
_TITLE_SEPARATOR = re.compile(r"\s[-_|]\s|[-_|－]")
_DATE_METAS = ("pubdate", "publishdate", "firstpublishedtime", "article:published_time", "pub_date", "publishtime")
_ROWS = lxml.etree.XPath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
_OWN_CELLS = lxml.etree.XPath("(.//td | .//th)[count(ancestor::table[1] | $table) = 1]")
_HAS_TWO_CELLS = lxml.etree.XPath("boolean((.//td | .//th)[2])")
# Character references to control characters (&#27;, &#x1b;) would bring back what printable() dropped (&#0; is
# read as U+FFFD, as browsers do).
_SMALL_REFERENCE = re.compile(rb"&#(?:0*(\d{1,3})(?!\d)|[xX]0*([0-9a-fA-F]{1,2})(?![0-9a-fA-F]));?")


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


def _utf8(data: bytes) -> bytes:
    """The page as UTF-8 bytes, which libxml2 parses fastest; valid UTF-8 is passed on as it is."""
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            pass
    return decode_html(data).encode("utf-8")


def iso_date(text: str) -> str | None:
    match = _DATE.search(text)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def _printable_reference(match: re.Match[bytes]) -> bytes:
    decimal, hexadecimal = match.groups()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return printable(bytes([code])) if 0 < code < 0x20 or code == 0x7F else match[0]


def _parse(data: bytes) -> lxml.etree._Element:
    source = _SMALL_REFERENCE.sub(_printable_reference, printable(_utf8(data)))
    if source.count(b"<") > MAX_HTML_TAGS:
        raise UnreadableDocument(f"HTML page with more than {MAX_HTML_TAGS:,} tags")
    # A parser per page: its error log is this page's. Plain etree elements: lxml.html's element-class
    # lookup costs more than the parse itself.
    parser = lxml.etree.HTMLParser(recover=True, no_network=True, remove_comments=True, remove_pis=True, encoding="utf-8")
    try:
        root = lxml.etree.fromstring(source, parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as exc:
        raise ExtractionError(f"unreadable HTML: {exc}") from None
    fatal = parser.error_log.last_error
    if fatal is not None and fatal.level == lxml.etree.ErrorLevels.FATAL:
        # libxml2 stops at its limits and returns what it read so far: refuse rather than lose the rest.
        if "depth" in fatal.message:
            raise UnreadableDocument(f"HTML nested deeper than {MAX_HTML_DEPTH} elements")
        raise UnreadableDocument(f"HTML beyond the parser's limits: {fatal.message.strip()}")
    if root is None:
        raise ExtractionError("unreadable HTML: no document element")
    return root


# What an element is to the reader, by its local name ("o:p" is a p): text flows through inline elements,
# blocks and breaks end lines, images are counted, tables are read whole, the rest is skipped.
_INLINE, _BLOCK_ELEMENT, _BREAK, _IMAGE, _TABLE, _SKIPPED = range(6)
# Line breaks go into the tails of these (exact tags, as lxml names them), for cell and title text.
_BREAKING_TAGS = frozenset({"br", *_BLOCK})


def _role(tag: object) -> int:
    if not isinstance(tag, str):
        return _SKIPPED
    name = tag.lower().split(":")[-1]
    if not name or name in _SKIP:
        return _SKIPPED
    if name == "table":
        return _TABLE
    if name == "img":
        return _IMAGE
    if name == "br":
        return _BREAK
    return _BLOCK_ELEMENT if name in _BLOCK else _INLINE


def _mark_line_breaks(root: lxml.etree._Element) -> None:
    for element in root.iter(*_BREAKING_TAGS):
        element.tail = "\n" + (element.tail or "")


class _Reader:
    """Paragraphs and tables of a page in reading order, in one pass over the tree.

    A table that frames the page contributes its own cells only, each as its own lines; a data table becomes a
    Table. Line breaks are marked (see _mark_line_breaks) as the pass leaves each element, and in one go inside
    the subtrees it does not enter.
    """

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.blocks: list[Block] = []
        self.line: list[str] = []
        self.line_images = 0
        self.images = 0
        self.tables = 0
        self.cells = 0

    def newline(self) -> None:
        line = self.line
        if not line:
            if self.line_images:
                self.blocks.append(Paragraph("", images=self.line_images))
                self.line_images = 0
            return
        raw = "".join(line)
        text = raw.strip()
        if text or self.line_images:
            self.blocks.append(Paragraph(text, images=self.line_images))
        elif "\xa0" in raw or "\u3000" in raw:
            # <p>&nbsp;</p>: an empty line that was printed, which may be a blank table cell
            self.blocks.append(Paragraph(""))
        line.clear()
        self.line_images = 0

    def read(self, root: lxml.etree._Element) -> None:
        roles: dict[object, int] = {}
        line = self.line  # the texts of the line being read; newline() empties it in place
        # The layout tables and the cells of theirs the pass is in, innermost last: (table, its own cells) or (cell, None).
        frames: list[tuple[lxml.etree._Element, set[lxml.etree._Element] | None]] = []
        framing = False  # in a layout table, outside its cells: nothing there is read
        walk = lxml.etree.iterwalk(root, events=("start", "end"))
        for event, element in walk:
            tag = element.tag
            role = roles.get(tag)
            if role is None:
                role = roles[tag] = _role(tag)
            if event == "start":
                if framing:
                    if element in frames[-1][1]:  # type: ignore[operator]
                        frames.append((element, None))
                        framing = False
                        self.newline()
                        if text := element.text:
                            line.append(text)
                    elif role == _TABLE:  # not in one of its cells: never read
                        walk.skip_subtree()
                        _mark_line_breaks(element)
                    continue
                if role == _TABLE:
                    cells = _layout_cells(element)
                    if cells is not None:
                        frames.append((element, set(cells)))
                        framing = True
                        continue
                    walk.skip_subtree()
                    self.newline()
                    self.table(element)
                    continue
                if role == _SKIPPED:
                    walk.skip_subtree()
                    _mark_line_breaks(element)
                    continue
                if role == _IMAGE:
                    self.line_images += 1
                    self.images += 1
                elif role != _INLINE:  # a block or a line break
                    self.newline()
                if text := element.text:
                    line.append(text)
                continue
            if frames and element is frames[-1][0]:
                if frames.pop()[1] is None:  # the end of a layout table's cell
                    framing = True
                    self.newline()
                    continue
                framing = False  # the end of a layout table, which only starts where text is read
            tail = element.tail
            if tag in _BREAKING_TAGS:
                tail = element.tail = "\n" + (tail or "")
            if framing:
                continue
            if role == _BLOCK_ELEMENT:
                self.newline()
            if tail and element is not root:
                line.append(tail)

    def table(self, element: lxml.etree._Element) -> None:
        self.deadline.check(f"reading table {self.tables}")
        _mark_line_breaks(element)
        table = _read_table(element, self.tables, MAX_CELLS - self.cells)
        self.blocks.append(table)
        self.tables += 1
        self.cells += sum(len(row) for row in table.rows)


def _layout_cells(table: lxml.etree._Element) -> list[lxml.etree._Element] | None:
    """The cells of a table that frames the page rather than holding data — one that holds other tables,
    or one big cell — in reading order; None for a data table."""
    if next(table.iterdescendants("table"), None) is None:
        return None if _HAS_TWO_CELLS(table) else list(table.iter(*_CELL_TAGS))
    cells = _OWN_CELLS(table, table=table)
    if len(cells) <= 1 or any(next(c.iterdescendants("table"), None) is not None for c in cells):
        return cells
    return None


def _cell_text(cell: lxml.etree._Element) -> str:
    # Line breaks were put into the tails of <br> and block elements by _mark_line_breaks. Serialising the
    # cell as text is one call into libxml2, several times faster than collecting itertext() in Python.
    text = lxml.etree.tostring(cell, method="text", encoding=str, with_tail=False) if len(cell) else cell.text or ""
    stripped = text.strip()
    if stripped.isprintable():  # no line break inside (nor any other non-printable character)
        return stripped
    return "\n".join(filter(None, map(str.strip, text.splitlines())))


def _span(cell: lxml.etree._Element, name: str) -> int:
    value = cell.get(name)
    if value is None:
        return 1
    if value.isascii() and value.isdigit():
        return max(1, min(int(value), MAX_SPAN))
    try:
        number = int(re.sub(r"\D", "", value) or 1)
    except ValueError:
        return 1
    return max(1, min(number, MAX_SPAN))


def _read_table(table: lxml.etree._Element, index: int, room: int) -> Table:
    """The table's rows with every merged cell repeated over the positions it covers (`span_of` names
    its origin); at most `room` cells."""
    rows = _ROWS(table)
    placed: list[dict[int, Cell]] = [{} for _ in rows]  # per row: column → cell
    count = 0
    for r, tr in enumerate(rows):
        row = placed[r]
        c = 0
        for element in tr:
            if element.tag not in _CELL_TAGS:
                continue
            while c in row:
                c += 1
            text = _cell_text(element)
            rowspan = min(_span(element, "rowspan"), len(rows) - r)
            colspan = _span(element, "colspan")
            count += rowspan * colspan
            if count > room:
                raise UnreadableDocument(f"HTML page with more than {MAX_CELLS:,} table cells")
            row[c] = Cell(text, index, r, c)
            if rowspan > 1 or colspan > 1:
                origin = (r, c)
                for dr in range(rowspan):
                    covered = placed[r + dr]
                    for dc in range(colspan):
                        if dr or dc:
                            covered[c + dc] = Cell(text, index, r + dr, c + dc, span_of=origin)
            c += colspan
    return Table(index, [[row[col] for col in sorted(row)] for row in placed if row])


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
        grid.title_candidates.extend(p.strip() for p in _TITLE_SEPARATOR.split("".join(element.itertext())))
    if not grid.published_on:
        for element in root.iter("publishtime"):
            grid.published_on = iso_date("".join(element.itertext()))
    if grid.published_on and grid.publisher:
        return
    page_text = " ".join(b.text if isinstance(b, Paragraph) else " ".join(c.text for row in b.rows for c in row)
                         for b in grid.blocks)
    if not grid.published_on:
        match = _DATE_LABEL.search(page_text)
        grid.published_on = iso_date(match.group(1)) if match else None
    if not grid.publisher:
        match = _PUBLISHER_LABEL.search(page_text)
        grid.publisher = match.group(1) if match else None


def read_html(data: bytes, deadline: Deadline | None = None) -> Grid:
    if len(data) > MAX_PAGE_BYTES:
        raise UnreadableDocument(f"HTML page of {len(data):,} bytes exceeds the {MAX_PAGE_BYTES:,}-byte limit")
    root = _parse(data)
    lxml.etree.strip_elements(root, *_SKIP - {"head"}, with_tail=False)
    body = root.find("body")
    reader = _Reader(deadline or Deadline())
    reader.read(body if body is not None else root)
    reader.newline()
    for part in root if body is not None else ():
        if part is not body:  # <head>: marked as the reader marked the body, for titles read from anywhere
            _mark_line_breaks(part)
    grid = Grid(tabulate(reader.blocks), images=reader.images)
    _metadata(root, grid)
    return grid
