"""Render a report document into the forms portals publish: HTML pages and flattened text.

A `ReportDocument` is what a unit printed — title, paragraphs, the raw text of every table cell, the
label variants and defects of its copy. This module decides only *where* things are printed: the
official table layouts of report_format.md §2.4/§2.5 with their merged cells, as a clean CMS table or
as Word-pasted markup (portal_patterns.md §3), inside a portal page or not, in any encoding, or as the
text that converters and snapshots make of them. Every label comes from extract.schema.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
from dataclasses import dataclass, field, replace

from extract.schema import (
    ACTIVE_CAPTION,
    ACTIVE_FIRST_HEADER,
    APPEAL_COLUMNS,
    APPEAL_GROUPS,
    REQUEST_COLUMNS,
    REQUEST_GROUPS,
    REQUEST_HEADER_LABELS,
    REQUEST_LEGAL_PERSON_COLUMNS,
    SECTIONS,
    RequestRow,
    active_tables,
    request_rows,
)

HTML_STYLES = ("clean", "word")
TEXT_STYLES = ("tabs", "cell_per_line", "pipes")
TABLE_SECTIONS = ("二", "三", "四")
DEFAULT_SITE_NAME = "政府门户网站"

_SECTION_BY_NUMERAL = {s.numeral: s for s in SECTIONS}
_REQUEST_COLUMN_BY_KEY = {c.key: c for c in REQUEST_COLUMNS}
_REQUEST_GROUP_BY_KEY = {g.key: g for g in REQUEST_GROUPS}
# The three header texts of section 三 in the order REQUEST_HEADER_LABELS declares them.
_REQUEST_HEADER_KEYS = ("note", "applicant", "legal_person")


@dataclass
class ReportDocument:
    """What a unit printed. `cells` holds raw cell text by field key ("" or missing = blank cell).

    `label_variants` keys: "row:<row key>" (section 二 and 三 row labels), "group:<request group key>"
    (三、本年度办理结果, （三）…（六） merged labels), "col:<active column key>" or, for one table only,
    "col:<第二十条 item>.<column key>" (e.g. "col:六.decisions"), "col:info" (信息内容), "caption:<item>",
    "col:requests.<column key | note | applicant | legal_person>", "col:appeals.<column key | group key |
    litigation>". A "\\n" in a label is a line break inside the cell; "" prints the cell empty.
    """

    unit: str
    year: int
    template: str
    title: str
    cells: dict[str, str]
    intro: list[str] = field(default_factory=list)
    narrative: dict[str, list[str]] = field(default_factory=dict)
    section_titles: dict[str, str] = field(default_factory=dict)
    omit_sections: set[str] = field(default_factory=set)
    label_variants: dict[str, str] = field(default_factory=dict)
    extra_active_lines: list[str] = field(default_factory=list)
    other_as_single_row: bool = False
    # Field keys whose cell a lossy conversion dropped: the row prints one cell fewer (seeds 000/001
    # print 6 numbers in 7-column rows), which is not the same as a blank cell.
    lost_cells: set[str] = field(default_factory=set)

    def heading(self, numeral: str) -> str:
        return self.section_titles.get(numeral, f"{numeral}、{_SECTION_BY_NUMERAL[numeral].label.canonical}")

    def label(self, canonical: str, *keys: str) -> str:
        """The printed label: the first variant found among `keys` (most specific first), else the canonical."""
        for key in keys:
            if key in self.label_variants:
                return self.label_variants[key]
        return canonical

    @property
    def title_line(self) -> str:
        """The title as a CMS shows it in one line (a title printed over several lines is joined)."""
        return "".join(part.strip() for part in self.title.splitlines())


# ---------------------------------------------------------------- table layouts

CAPTION = "caption"  # 第二十条第（N）项 row
HEADER = "header"
LABEL = "label"  # row label, incl. merged group labels
VALUE = "value"
PAD = "pad"  # empty cell filling a table row that has fewer columns than the table
EXTRA = "extra"  # a local line printed as a full-width row (seed 002's 吉林 line)


@dataclass(frozen=True)
class LayoutCell:
    """One printed cell. `key` is the field key of a VALUE cell and the label_variants key of a printed label."""

    kind: str
    key: str
    text: str
    rowspan: int = 1
    colspan: int = 1


@dataclass(frozen=True)
class LayoutTable:
    """A report table as printed: each row lists only the cells that start in it (HTML's model)."""

    numeral: str
    width: int
    rows: tuple[tuple[LayoutCell, ...], ...]
    header_rows: int  # leading rows that are all column headers (0 when captions interleave, as in 二)


def _label_cell(doc: ReportDocument, kind: str, canonical: str, *keys: str, rowspan: int = 1, colspan: int = 1) -> LayoutCell:
    return LayoutCell(kind, keys[0], doc.label(canonical, *keys), rowspan, colspan)


def _value_cell(doc: ReportDocument, key: str) -> LayoutCell:
    return LayoutCell(VALUE, key, doc.cells.get(key, ""))


def _fill(cells: list[LayoutCell], width: int) -> list[LayoutCell]:
    # As the templates print it: a single column stretches over the table (2021 （五）（六）（八）),
    # fewer columns leave empty cells at the row's end (2019 （八）（九）).
    if len(cells) == 1:
        return [replace(cells[0], colspan=width)]
    return cells + [LayoutCell(PAD, "", "")] * (width - len(cells))


def active_layout(doc: ReportDocument) -> LayoutTable:
    """Section 二: one table, each 第二十条 block headed by a caption row spanning the table."""
    tables = active_tables(doc.template)
    width = 1 + max(len(t.columns) for t in tables)
    rows: list[tuple[LayoutCell, ...]] = []
    for table in tables:
        caption = ACTIVE_CAPTION.canonical.replace("（一）", f"（{table.item}）")
        rows.append((_label_cell(doc, CAPTION, caption, f"caption:{table.item}", colspan=width),))
        headers = [_label_cell(doc, HEADER, col.label.canonical, f"col:{table.item}.{col.key}", f"col:{col.key}") for col in table.columns]
        rows.append((_label_cell(doc, HEADER, ACTIVE_FIRST_HEADER.canonical, "col:info"), *_fill(headers, width - 1)))
        for row in table.rows:
            values = [_value_cell(doc, f"active.{row.key}.{col.key}") for col in table.columns]
            rows.append((_label_cell(doc, LABEL, row.label.canonical, f"row:{row.key}"), *_fill(values, width - 1)))
    rows += [(LayoutCell(EXTRA, f"extra:{i}", line, colspan=width),) for i, line in enumerate(doc.extra_active_lines)]
    return LayoutTable("二", width, tuple(rows), header_rows=0)


def printed_request_rows(doc: ReportDocument) -> list[RequestRow]:
    """The data rows of section 三 in print order: in 2021 （六） is a merged label over three rows,
    unless the document prints it as one row (as 2019 does)."""
    rows = request_rows(doc.template)
    if doc.template == "2021" and not doc.other_as_single_row:
        return [r for r in rows if r.key != "other"]
    return [r for r in rows if r.group != "other"]


def requests_layout(doc: ReportDocument) -> LayoutTable:
    """Section 三: 3 label columns and 7 numeric columns under three header rows (report_format §2.4)."""
    note, applicant, legal_person = (
        (label.canonical, f"col:requests.{key}") for key, label in zip(_REQUEST_HEADER_KEYS, REQUEST_HEADER_LABELS, strict=True)
    )

    def column(key: str, **span: int) -> LayoutCell:
        return _label_cell(doc, HEADER, _REQUEST_COLUMN_BY_KEY[key].label.canonical, f"col:requests.{key}", **span)

    header = (
        (_label_cell(doc, HEADER, *note, rowspan=3, colspan=3), _label_cell(doc, HEADER, *applicant, colspan=7)),
        (
            column("natural_person", rowspan=2),
            _label_cell(doc, HEADER, *legal_person, colspan=5),
            column("total", rowspan=2),
        ),
        tuple(column(key) for key in REQUEST_LEGAL_PERSON_COLUMNS),
    )
    printed = printed_request_rows(doc)
    group_sizes: dict[str, int] = {}
    for row in printed:
        if row.group is not None:
            group_sizes["results"] = group_sizes.get("results", 0) + 1
            if row.group != "results":
                group_sizes[row.group] = group_sizes.get(row.group, 0) + 1

    def group(key: str) -> LayoutCell:
        label = _REQUEST_GROUP_BY_KEY[key].label.canonical
        return _label_cell(doc, LABEL, label, f"group:{key}", rowspan=group_sizes[key])

    started: set[str] = set()
    rows: list[tuple[LayoutCell, ...]] = []
    for row in printed:
        labels: list[LayoutCell] = []
        own = (row.label.canonical, f"row:{row.key}")
        if row.group is None:
            labels.append(_label_cell(doc, LABEL, *own, colspan=3))
        else:
            if "results" not in started:
                started.add("results")
                labels.append(group("results"))
            if row.group == "results":
                labels.append(_label_cell(doc, LABEL, *own, colspan=2))
            else:
                if row.group not in started:
                    started.add(row.group)
                    labels.append(group(row.group))
                labels.append(_label_cell(doc, LABEL, *own))
        keys = (f"requests.{row.key}.{col.key}" for col in REQUEST_COLUMNS)
        values = [_value_cell(doc, key) for key in keys if key not in doc.lost_cells]
        rows.append((*labels, *values))
    return LayoutTable("三", 10, (*header, *rows), header_rows=3)


def appeals_layout(doc: ReportDocument) -> LayoutTable:
    """Section 四: 15 numeric columns under three header rows, one data row (report_format §2.5)."""
    review, *litigation_groups = APPEAL_GROUPS
    # The schema names the litigation groups "行政诉讼 <sub-group>": the first word heads both.
    litigation = litigation_groups[0].label.canonical.split()[0]

    def column(key: str, label: str, rowspan: int = 1) -> LayoutCell:
        return _label_cell(doc, HEADER, label, f"col:appeals.{key}", rowspan=rowspan)

    header = (
        (
            _label_cell(doc, HEADER, review.label.canonical, f"col:appeals.{review.key}", colspan=5),
            _label_cell(doc, HEADER, litigation, "col:appeals.litigation", colspan=10),
        ),
        (
            *(column(key, label.canonical, rowspan=2) for key, label in APPEAL_COLUMNS),
            *(_label_cell(doc, HEADER, g.label.canonical.split()[-1], f"col:appeals.{g.key}", colspan=5) for g in litigation_groups),
        ),
        tuple(column(key, label.canonical) for _ in litigation_groups for key, label in APPEAL_COLUMNS),
    )
    values = tuple(_value_cell(doc, f"{g.key}.{key}") for g in APPEAL_GROUPS for key, _ in APPEAL_COLUMNS)
    return LayoutTable("四", 15, (*header, values), header_rows=3)


def section_layout(doc: ReportDocument, numeral: str) -> LayoutTable:
    return {"二": active_layout, "三": requests_layout, "四": appeals_layout}[numeral](doc)


def placed_rows(table: LayoutTable) -> list[list[tuple[int, LayoutCell | None]]]:
    """Each row as (start column, cell) pairs, with None once for every merged cell from a row above that
    covers part of the row — which is how Word's "convert to text" and plain-text snapshots flatten it."""
    covering: list[tuple[LayoutCell, int] | None] = [None] * table.width  # (cell, rows it still covers)
    placed: list[list[tuple[int, LayoutCell | None]]] = []
    for row in table.rows:
        cells = iter(row)
        line: list[tuple[int, LayoutCell | None]] = []
        col = 0
        while col < table.width:
            cover = covering[col]
            if cover is not None:
                cell, left = cover
                line.append((col, None))
                for c in range(col, col + cell.colspan):
                    covering[c] = (cell, left - 1) if left > 1 else None
                col += cell.colspan
                continue
            cell = next(cells, None)
            if cell is None:
                break
            line.append((col, cell))
            for c in range(col, col + cell.colspan):
                covering[c] = (cell, cell.rowspan - 1) if cell.rowspan > 1 else None
            col += cell.colspan
        placed.append(line)
    return placed


def flat_rows(table: LayoutTable) -> list[list[LayoutCell | None]]:
    return [[cell for _, cell in line] for line in placed_rows(table)]


# ---------------------------------------------------------------- the document as blocks


@dataclass(frozen=True)
class Heading:
    numeral: str
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


Block = Heading | Paragraph | LayoutTable


def document_blocks(doc: ReportDocument) -> list[Block]:
    """The body in reading order (title excluded): intro, then each section not omitted — heading,
    its paragraphs, and for 二/三/四 the table after the paragraphs."""
    blocks: list[Block] = [Paragraph(p) for p in doc.intro]
    for section in SECTIONS:
        numeral = section.numeral
        if numeral in doc.omit_sections:
            continue
        blocks.append(Heading(numeral, doc.heading(numeral)))
        blocks += [Paragraph(p) for p in doc.narrative.get(numeral, [])]
        if numeral in TABLE_SECTIONS:
            blocks.append(section_layout(doc, numeral))
    return blocks


def table_image_src(doc: ReportDocument, numeral: str, image_base: str = "") -> str:
    """Where an image-only report (tables_as_images) points for the table of section 二, 三 or 四."""
    return f"{image_base}W{doc.year + 1}{_digest(doc)[:8]}{TABLE_SECTIONS.index(numeral) + 1}.png"


def _digest(doc: ReportDocument) -> str:
    return hashlib.sha256(f"{doc.unit}|{doc.year}|{doc.title}".encode()).hexdigest()


# ---------------------------------------------------------------- text


def render_text(doc: ReportDocument, *, style: str = "tabs") -> str:
    """The report as converters flatten it: "tabs" = one row a line, tab-separated (seeds 000/001);
    "cell_per_line" = each cell on a line after a tab, a blank line after each row (seeds 002–004);
    "pipes" = Markdown pipe tables. Merged cells from rows above print as empty cells."""
    if style not in TEXT_STYLES:
        raise ValueError(f"unknown text style {style!r}; expected one of {TEXT_STYLES}")
    parts = [doc.title, ""]
    for block in document_blocks(doc):
        if isinstance(block, LayoutTable):
            parts += [_table_text(block, style), ""]
        else:
            parts += [block.text, ""]
    return "\n".join(parts)


def _table_text(table: LayoutTable, style: str) -> str:
    flat = flat_rows(table)
    if style == "tabs":
        # Tab-separated copies print a merged cell followed by an empty cell for each further column it
        # spans ("第二十条第（一）项\t\t\t" in seeds 000/001); merged cells from rows above print once, empty.
        return "\n".join("\t".join(text for cell in row for text in _spread_text(cell)) for row in flat)
    rows = [["" if cell is None else cell.text for cell in row] for row in flat]
    if style == "cell_per_line":
        return "\n\n".join("\n".join(f"\t{text}" for text in row) for row in rows) + "\n"
    # Markdown converters pad every row to the widest one, which leaves the stray "| |" cells of real snapshots.
    width = max(len(row) for row in rows)
    lines = ["| " + " | ".join(_pipe_cell(text) for text in row + [""] * (width - len(row))) + " |" for row in rows]
    separator = "|" + " --- |" * width
    return "\n".join([lines[0], separator, *lines[1:]])


def _spread_text(cell: LayoutCell | None) -> list[str]:
    return [""] if cell is None else [cell.text] + [""] * (cell.colspan - 1)


def _pipe_cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", r"\|")


# ---------------------------------------------------------------- HTML


def _esc(text: str) -> str:
    """Escape report text for HTML; a no-break space is written as Word and CMS editors write it."""
    return html.escape(text, quote=True).replace("\xa0", "&nbsp;")


def render_html(
    doc: ReportDocument,
    *,
    style: str = "clean",
    encoding: str = "utf-8",
    meta_charset: str | None = "auto",
    tables_as_images: bool = False,
    page_chrome: bool = True,
    published_on: str | None = None,
    site_name: str | None = None,
    publisher: str | None = None,
    index_no: str | None = None,
    image_base: str = "",
) -> bytes:
    """The report as an HTML page, encoded in `encoding`.

    meta_charset: "auto" declares `encoding`, None declares nothing, any other string is declared as is
    (the simulator serves lying pages on purpose). With page_chrome the article sits in a portal page
    (header, nav, breadcrumb, 索引号/发布机构/公开日期 table); `published_on` (as the portal prints it,
    e.g. "2021-01-20") goes into that table and `<meta name="PubDate">`, omitted when None; `publisher`
    defaults to the unit, `index_no` to a stable made-up 索引号. tables_as_images prints the tables of
    二/三/四 as `<img>` pointing at table_image_src(doc, numeral, image_base).
    """
    if style not in HTML_STYLES:
        raise ValueError(f"unknown HTML style {style!r}; expected one of {HTML_STYLES}")
    charset = encoding if meta_charset == "auto" else meta_charset
    if style == "clean":
        article = _clean_article(doc, tables_as_images, image_base)
    else:
        article = _WordWriter(doc).article(tables_as_images, image_base)
    if page_chrome:
        page = _portal_page(
            doc,
            article,
            meta=_meta_charset(charset, unquoted=style == "word"),
            published_on=published_on,
            site_name=site_name or DEFAULT_SITE_NAME,
            publisher=publisher or doc.unit,
            index_no=index_no or _made_up_index_no(doc),
        )
    elif style == "clean":
        page = _bare_clean_page(doc, article, charset)
    else:
        page = _bare_word_page(doc, article, charset)
    return page.encode(encoding, errors="xmlcharrefreplace")


def _meta_charset(charset: str | None, *, unquoted: bool) -> str:
    if charset is None:
        return ""
    # Older portal templates write the attribute unquoted, e.g. <meta charset=gb2312>.
    return f"<meta charset={_esc(charset)}>" if unquoted else f'<meta charset="{_esc(charset)}">'


def _made_up_index_no(doc: ReportDocument) -> str:
    # 索引号 = the unit's 18-character 统一社会信用代码 + publication year + a sequence number.
    digest = _digest(doc)
    code = "11" + str(int(digest[:16], 16))[:14] + digest[16:18].upper()
    return f"{code}/{doc.year + 1}-{int(digest[18:22], 16) % 100:05d}"


# ----- clean


def _clean_article(doc: ReportDocument, tables_as_images: bool, image_base: str) -> str:
    out = ['<div class="article-content">']
    for block in document_blocks(doc):
        if isinstance(block, Heading):
            out.append(f"<h2>{_esc(block.text)}</h2>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_esc(block.text)}</p>")
        elif tables_as_images:
            out.append(f'<p><img src="{_esc(table_image_src(doc, block.numeral, image_base))}" alt=""></p>')
        else:
            out.append(_clean_table(block))
    out.append("</div>")
    return "\n".join(out)


def _clean_table(table: LayoutTable) -> str:
    out = ['<table border="1" cellspacing="0" cellpadding="4">']
    for index, row in enumerate(table.rows):
        if index == 0 and table.header_rows:
            out.append("<thead>")
        if index == table.header_rows:
            out.append("<tbody>")
        out.append("<tr>" + "".join(_clean_cell(cell) for cell in row) + "</tr>")
        if index == table.header_rows - 1:
            out.append("</thead>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _clean_cell(cell: LayoutCell) -> str:
    tag = "th" if cell.kind in (HEADER, CAPTION) else "td"
    spans = (f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else "") + (f' colspan="{cell.colspan}"' if cell.colspan > 1 else "")
    return f"<{tag}{spans}>{_esc(cell.text).replace(chr(10), '<br>')}</{tag}>"


def _bare_clean_page(doc: ReportDocument, article: str, charset: str | None) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="zh-CN">',
            "<head>",
            _meta_charset(charset, unquoted=False),
            f"<title>{_esc(doc.title_line)}</title>",
            "</head>",
            "<body>",
            f"<h1>{_esc(doc.title_line)}</h1>",
            article,
            "</body>",
            "</html>",
            "",
        ]
    )


# ----- word

# Column widths (px) Word writes for each table, after the real report pages.
_WORD_COLUMN_WIDTHS = {
    "二": (183, 136, 144, 142),
    "三": (51, 88, 183, 43, 46, 44, 54, 47, 43, 44),
    "四": (39, 40, 44, 41, 38, 42, 42, 42, 42, 43, 42, 42, 42, 42, 43),
}
# Word gives Latin text and digits their own run in the western font.
_LATIN_RUN = re.compile(r"[0-9A-Za-z.%]+")


def _spacerun(spaces: re.Match[str]) -> str:
    return f"<span style='mso-spacerun:yes'>{'&nbsp;' * (len(spaces[0]) - 1)} </span>"


class _WordWriter:
    """Writes the body as a Word document looks once pasted into a CMS editor: MsoNormal paragraphs in
    every cell, runs split at font changes and at random edit points, <o:p> markers, &nbsp; in empty
    cells, widths and borders on every cell. Random choices are seeded by the document, so a document
    always renders to the same bytes."""

    def __init__(self, doc: ReportDocument) -> None:
        self.doc = doc
        self.rng = random.Random(_digest(doc))
        self.body_font = self.rng.choice(("仿宋_GB2312", "仿宋", "方正仿宋_GBK"))
        self.heading_font = self.rng.choice(("黑体", "方正黑体_GBK"))
        # Some editors wrap runs in <font face=…> as well (the 方正仿宋_GBK pages of portal_patterns §3).
        self.font_tags = self.rng.random() < 0.5

    def article(self, tables_as_images: bool, image_base: str) -> str:
        out = [
            '<table width="100%" border="0" cellspacing="0" cellpadding="0" class="article-layout">',
            '<tr><td class="bt_content" id="zoom">',
            "<!--[if gte mso 9]><xml><w:WordDocument><w:View>Normal</w:View><w:Zoom>0</w:Zoom>"
            "<w:PunctuationKerning/></w:WordDocument></xml><![endif]-->",
            "<div class=WordSection1 style='layout-grid:15.6pt'>",
        ]
        out += [self._title_paragraph(line) for line in self.doc.title.split("\n") if line.strip()]
        images = 0
        for block in document_blocks(self.doc):
            if isinstance(block, Heading):
                out.append(self._heading(block.text))
            elif isinstance(block, Paragraph):
                out.append(self._paragraph(block.text))
            elif tables_as_images:
                images += 1
                src = _esc(table_image_src(self.doc, block.numeral, image_base))
                out.append(
                    "<p class=MsoNormal align=center style='text-align:center'><span lang=EN-US>"
                    f'<img width=554 height={self.rng.randint(180, 760)} src="{src}" '
                    f'v:shapes="图片_x0020_{images}"></span><span lang=EN-US><o:p></o:p></span></p>'
                )
            else:
                out.append(self._table(block))
                out.append("<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p>")
        out += ["</div>", "</td></tr>", "</table>"]
        return "\n".join(out)

    # -- runs

    def _pieces(self, text: str, split_chance: float) -> list[tuple[str, bool]]:
        """(text, is_latin) runs; each run of two or more characters is cut in two at `split_chance`,
        as Word does where a text was edited — so a label or a number may sit in two <span>s."""
        pieces: list[tuple[str, bool]] = []
        position = 0
        for match in _LATIN_RUN.finditer(text):
            if match.start() > position:
                pieces.append((text[position : match.start()], False))
            pieces.append((match.group(), True))
            position = match.end()
        if position < len(text):
            pieces.append((text[position:], False))
        cut: list[tuple[str, bool]] = []
        for piece, latin in pieces:
            if len(piece) >= 2 and self.rng.random() < split_chance:
                at = self.rng.randint(1, len(piece) - 1)
                cut += [(piece[:at], latin), (piece[at:], latin)]
            else:
                cut.append((piece, latin))
        return cut

    def _run_text(self, text: str) -> str:
        escaped = _esc(text)
        # Word keeps runs of spaces with mso-spacerun; a lone space stays a space.
        return re.sub(r" {2,}", _spacerun, escaped)

    def _runs(self, text: str, size: str, split_chance: float, font: str | None = None) -> str:
        font = font or self.body_font
        spans = []
        for piece, latin in self._pieces(text, split_chance):
            inner = self._run_text(piece)
            if latin:
                if self.font_tags:
                    inner = f'<font face="Times New Roman">{inner}</font>'
                spans.append(
                    f'<span lang=EN-US style=\'font-size:{size};font-family:"Times New Roman";'
                    f"mso-fareast-font-family:{font}'>{inner}</span>"
                )
            else:
                if self.font_tags:
                    inner = f'<font face="{font}">{inner}</font>'
                spans.append(
                    f'<span style=\'font-size:{size};font-family:{font};mso-ascii-font-family:"Times New Roman";'
                    f'mso-hansi-font-family:"Times New Roman";mso-bidi-font-family:宋体\'>{inner}</span>'
                )
        return "".join(spans)

    @staticmethod
    def _end_mark(size: str) -> str:
        return f"<span lang=EN-US style='font-size:{size}'><o:p></o:p></span>"

    # -- paragraphs

    def _title_paragraph(self, line: str) -> str:
        runs = self._runs(line, "22.0pt", 0.3, font="方正小标宋简体")
        return (
            "<p class=MsoNormal align=center style='text-align:center;line-height:28.0pt;"
            f"mso-line-height-rule:exactly'><b>{runs}</b>{self._end_mark('22.0pt')}</p>"
        )

    def _heading(self, text: str) -> str:
        runs = self._runs(text, "16.0pt", 0.5, font=self.heading_font)
        return (
            "<p class=MsoNormal style='text-indent:32.0pt;mso-char-indent-count:2.0;line-height:28.0pt;"
            f"mso-line-height-rule:exactly'><b>{runs}</b>{self._end_mark('16.0pt')}</p>"
        )

    def _paragraph(self, text: str) -> str:
        runs = "<br>".join(self._runs(line, "16.0pt", 0.35) for line in text.split("\n"))
        return (
            "<p class=MsoNormal style='text-indent:32.0pt;mso-char-indent-count:2.0;line-height:28.0pt;"
            f"mso-line-height-rule:exactly'>{runs}{self._end_mark('16.0pt')}</p>"
        )

    # -- tables

    def _table(self, table: LayoutTable) -> str:
        widths = _WORD_COLUMN_WIDTHS[table.numeral]
        total = sum(widths)
        out = [
            "<div align=center>",
            f"<table class=MsoNormalTable border=1 cellspacing=0 cellpadding=0 width={total} "
            f"style='width:{total * 0.75:.1f}pt;border-collapse:collapse;border:none;"
            "mso-border-alt:solid windowtext .5pt;mso-yfti-tbllook:1184;mso-padding-alt:0cm 5.4pt 0cm 5.4pt;"
            "mso-border-insideh:.5pt solid windowtext;mso-border-insidev:.5pt solid windowtext'>",
        ]
        placed = placed_rows(table)
        for index, line in enumerate(placed):
            flags = ";mso-yfti-firstrow:yes" if index == 0 else ""
            flags += ";mso-yfti-lastrow:yes" if index == len(placed) - 1 else ""
            out.append(f" <tr style='mso-yfti-irow:{index}{flags};height:{self.rng.choice((18, 20, 22, 28))}.0pt'>")
            for col, cell in line:
                if cell is not None:
                    out.append(self._cell(cell, sum(widths[col : col + cell.colspan])))
            out.append(" </tr>")
        if table.numeral == "三":
            # Word adds this row of bare cells to tables whose merged label columns do not line up.
            out.append(" <![if !supportMisalignedColumns]>")
            out.append(" <tr height=0>" + "".join(f"<td width={w} style='border:none'></td>" for w in widths) + "</tr>")
            out.append(" <![endif]>")
        out += ["</table>", "</div>"]
        return "\n".join(out)

    def _cell(self, cell: LayoutCell, width: int) -> str:
        spans = (f" rowspan={cell.rowspan}" if cell.rowspan > 1 else "") + (f" colspan={cell.colspan}" if cell.colspan > 1 else "")
        valign = "top" if cell.kind == VALUE and not cell.text.strip() else "center"
        body = "\n".join(self._cell_paragraph(cell, line) for line in cell.text.split("\n"))
        return (
            f"  <td width={width}{spans} valign={valign} style='width:{width * 0.75:.1f}pt;"
            "border:solid windowtext 1.0pt;border-top:none;mso-border-top-alt:solid windowtext .5pt;"
            f"mso-border-alt:solid windowtext .5pt;padding:0cm 5.4pt 0cm 5.4pt'>\n{body}\n  </td>"
        )

    def _cell_paragraph(self, cell: LayoutCell, line: str) -> str:
        opening = "<p class=MsoNormal align=center style='text-align:center;line-height:18.0pt;mso-line-height-rule:exactly'>"
        if not line:
            return f"{opening}<span lang=EN-US style='font-size:10.5pt'><o:p>&nbsp;</o:p></span></p>"
        if cell.kind == VALUE:
            runs = self._runs(line, "10.5pt", 0.4)
        elif cell.kind == HEADER and len(line) > 14 and "\n" not in cell.text and self.rng.random() < 0.5:
            # A long header label with a manual line break somewhere in it.
            at = self.rng.randint(4, len(line) - 4)
            runs = self._runs(line[:at], "10.5pt", 0.3) + "<br>" + self._runs(line[at:], "10.5pt", 0.3)
        else:
            runs = self._runs(line, "10.5pt", 0.3)
        return f"{opening}{runs}{self._end_mark('10.5pt')}</p>"


def _bare_word_page(doc: ReportDocument, article: str, charset: str | None) -> str:
    # What Word's "Save as web page" writes around the body.
    meta = f'<meta http-equiv=Content-Type content="text/html; charset={_esc(charset)}">' if charset else ""
    return "\n".join(
        [
            '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"',
            'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">',
            "<head>",
            meta,
            "<meta name=ProgId content=Word.Document>",
            '<meta name=Generator content="Microsoft Word 15">',
            f"<title>{_esc(doc.title_line)}</title>",
            "<style>p.MsoNormal{margin:0cm;text-align:justify;font-size:10.5pt;font-family:等线}</style>",
            "</head>",
            "<body lang=ZH-CN style='text-justify-trim:punctuation'>",
            article,
            "</body>",
            "</html>",
            "",
        ]
    )


# ----- portal page


def _portal_page(
    doc: ReportDocument,
    article: str,
    *,
    meta: str,
    published_on: str | None,
    site_name: str,
    publisher: str,
    index_no: str,
) -> str:
    title = _esc(doc.title_line)
    site = _esc(site_name)
    date = _esc(published_on or "")
    pubdate = f'<meta name="PubDate" content="{date}">' if published_on else ""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="zh-CN">',
            "<head>",
            meta,
            '<meta http-equiv="X-UA-Compatible" content="IE=edge">',
            f"<title>{title}_{site}</title>",
            f'<meta name="SiteName" content="{site}">',
            '<meta name="ColumnName" content="政府信息公开年报">',
            '<meta name="ColumnType" content="政府信息公开年报">',
            f'<meta name="ArticleTitle" content="{title}">',
            pubdate,
            f'<meta name="ContentSource" content="{_esc(publisher)}">',
            '<link rel="stylesheet" href="/css/common.css">',
            '<script src="/js/jquery.min.js"></script>',
            "</head>",
            "<body>",
            '<div class="header">',
            f'<div class="top-bar"><span>欢迎访问{site}！</span>'
            '<a href="javascript:void(0);" onclick="jft()">繁體版</a> <a href="javascript:;">无障碍</a></div>',
            f'<div class="logo"><img src="/images/logo.png" alt="{site}"></div>',
            '<form class="search" action="/search/" method="get"><input name="q" placeholder="请输入关键词">'
            '<input type="submit" value="搜索"></form>',
            '<ul class="nav"><li><a href="/">首页</a></li><li><a href="/zwgk/">政务公开</a></li>'
            '<li><a href="/zwfw/">政务服务</a></li><li><a href="/hdjl/">互动交流</a></li></ul>',
            "</div>",
            '<div class="location">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; '
            '<a href="/zwgk/zfxxgk/">政府信息公开</a> &gt; <a href="/zwgk/zfxxgk/zfxxgknb/">政府信息公开年报</a></div>',
            '<div class="main">',
            '<table class="xxgk-info" border="0" cellspacing="0" cellpadding="0">',
            f"<tr><td>索引号：</td><td>{_esc(index_no)}</td><td>发布机构：</td><td>{_esc(publisher)}</td></tr>",
            f"<tr><td>公开日期：</td><td>{date}</td><td>分类：</td><td>政府信息公开年报</td></tr>",
            f'<tr><td>名称：</td><td colspan="3">{title}</td></tr>',
            "</table>",
            f'<h1 class="article-title">{title}</h1>',
            f'<div class="article-info">发布日期：{date}　来源：{_esc(publisher)}　浏览次数：<span id="hits"></span></div>',
            article,
            '<div class="article-tools">【<a href="javascript:window.print()">打印本页</a>】'
            '【<a href="javascript:window.close()">关闭窗口</a>】</div>',
            "</div>",
            '<div class="footer">',
            '<p><a href="/zwgk/zfxxgk/zfxxgkzn/">政府信息公开指南</a> | '
            '<a href="/zwgk/zfxxgk/zfxxgkzd/">政府信息公开制度</a> | '
            '<a href="/zwgk/zfxxgk/zfxxgknb/">政府信息公开年报</a></p>',
            f"<p>主办单位：{site}办公室　版权所有</p>",
            "</div>",
            "</body>",
            "</html>",
            "",
        ]
    )
