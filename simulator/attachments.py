"""The files of reports published as attachments or as pictures, rendered from the same ReportDocument as the
HTML pages, so the ground truth's values are the values these files show.

- PDF: A4 pages with a text layer in an embedded CJK font, ruled tables (simulator/printing.py, simulator/pdf.py);
- DOCX: Word XML, merged cells as gridSpan/vMerge (python-docx for the document, the tables written directly);
- DOC: Word 97–2003 binary, the same tables (simulator/msdoc.py);
- XLS: BIFF8 (xlwt), title and prose in column A, the tables with merged ranges;
- PNG: a table printed and scanned: slightly rotated, grainy, thresholded to black and white.

All deterministic per document; rendered files are kept in memory by content (a world that advances renders
only what changed). A report's `damage` (simulator/world.py ATTACHMENT_DAMAGES) serves its file broken the way
that damage says: cut short, password-protected, too large to read, or a zip bomb.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from xml.sax.saxutils import escape

import docx
import xlwt
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.shared import Cm, Pt

from simulator.msdoc import render_doc
from simulator.printing import column_widths, covering, grid_cells, render_pdf, table_picture
from simulator.render import CAPTION, HEADER, Heading, LayoutTable, ReportDocument, document_blocks, section_layout
from simulator.world import ATTACHMENT_DAMAGES, ATTACHMENT_FORMS, World, rng_for

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "png": "image/png",
}
OVERSIZED_BYTES = 51 * 2**20  # over the extractor's 50 MB limit, under the crawler's 60 MB download limit
_CACHE_BYTES = 256 * 2**20
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


# ---------------------------------------------------------------------------------------------------- cells


def number_or_text(text: str) -> float | str:
    """A cell as a spreadsheet holds it: numbers as numbers ("+3" is typed as 3), the rest as text."""
    return float(text) if _NUMBER.match(text) else text


# ---------------------------------------------------------------------------------------------------- DOCX


def _docx_table(table: LayoutTable, width_twips: int) -> str:
    """A w:tbl: every cell ruled, merges as gridSpan (across) and vMerge restart/continue (down)."""
    cols = [round(w) for w in column_widths(table, float(width_twips))]
    rows = []
    for r, line in enumerate(covering(table)):
        cells, c = [], 0
        while c < table.width:
            placed = line[c]
            span = placed.cell.colspan
            props = f'<w:tcW w:w="{sum(cols[c:c + span])}" w:type="dxa"/>'
            props += f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
            if placed.cell.rowspan > 1:
                props += '<w:vMerge w:val="restart"/>' if placed.row == r else "<w:vMerge/>"
            text = placed.cell.text if placed.row == r else ""
            runs = "<w:r><w:br/></w:r>".join(f'<w:r><w:t xml:space="preserve">{escape(t)}</w:t></w:r>' for t in text.split("\n"))
            cells.append(f'<w:tc><w:tcPr>{props}<w:vAlign w:val="center"/></w:tcPr>'
                         f'<w:p><w:pPr><w:jc w:val="center"/></w:pPr>{runs if text else ""}</w:p></w:tc>')
            c += span
        rows.append(f"<w:tr>{''.join(cells)}</w:tr>")
    borders = "".join(f'<w:{side} w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
                      for side in ("top", "left", "bottom", "right", "insideH", "insideV"))
    grid_cols = "".join(f'<w:gridCol w:w="{w}"/>' for w in cols)
    return (f'<w:tbl {_W}><w:tblPr><w:tblW w:w="{sum(cols)}" w:type="dxa"/><w:jc w:val="center"/>'
            f'<w:tblBorders>{borders}</w:tblBorders><w:tblLayout w:type="fixed"/></w:tblPr>'
            f"<w:tblGrid>{grid_cols}</w:tblGrid>{''.join(rows)}</w:tbl>")


def _east_asian(run: docx.text.run.Run, font: str) -> None:
    run.font.name = font
    run._element.rPr.rFonts.set("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia", font)


def render_docx(doc: ReportDocument) -> bytes:
    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.5)
    document.core_properties.title = doc.title_line
    document.core_properties.author = doc.unit
    # Written once, like the file a unit uploads: not stamped with the time it is rendered (the server renders a
    # file again when its cache dropped it, and the same report must be the same bytes).
    saved = datetime(doc.year + 1, 1, 15, 9, 0)
    document.core_properties.created = document.core_properties.modified = saved
    for line in (part.strip() for part in doc.title.split("\n")):
        if line:
            paragraph = document.add_paragraph()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = paragraph.add_run(line)
            run.bold, run.font.size = True, Pt(22)
            _east_asian(run, "方正小标宋简体")
    body = document.element.body
    for block in document_blocks(doc):
        if isinstance(block, LayoutTable):
            table = parse_xml(_docx_table(block, 9000))
            body.insert(len(body) - 1, table)  # before the section properties
            continue
        paragraph = document.add_paragraph()
        run = paragraph.add_run(block.text)
        run.font.size = Pt(16)
        if isinstance(block, Heading):
            run.bold = True
            _east_asian(run, "黑体")
        else:
            paragraph.paragraph_format.first_line_indent = Pt(32)
            _east_asian(run, "仿宋_GB2312")
    out = io.BytesIO()
    document.save(out)
    return _dated(out.getvalue(), saved)


def _dated(package: bytes, saved: datetime) -> bytes:
    """The package with every member dated `saved` (python-docx dates them now)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(zipfile.ZipInfo(item.filename, saved.timetuple()[:6]), source.read(item), zipfile.ZIP_DEFLATED)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------- XLS


def render_xls(doc: ReportDocument) -> bytes:
    """The report pasted into a sheet: title and prose in column A, each table below its heading."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    ruled = xlwt.easyxf("borders: left thin, right thin, top thin, bottom thin; align: wrap on, vert centre, horiz centre")
    for c, width in enumerate((30, 14, 30, *(10,) * 12)):
        sheet.col(c).width = width * 256
    sheet.write(0, 0, doc.title_line, xlwt.easyxf("font: bold on, height 360"))
    row = 2
    for block in document_blocks(doc):
        if not isinstance(block, LayoutTable):
            sheet.write(row, 0, block.text)
            row += 1
            continue
        for placed in grid_cells(block):
            cell, r, c = placed.cell, row + placed.row, placed.col
            value = number_or_text(cell.text) if cell.kind not in (HEADER, CAPTION) else cell.text
            if cell.rowspan > 1 or cell.colspan > 1:
                sheet.write_merge(r, r + cell.rowspan - 1, c, c + cell.colspan - 1, value, ruled)
            else:
                sheet.write(r, c, value, ruled)
        row += len(block.rows) + 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------- damage


def damaged(data: bytes, fmt: str, damage: str, doc: ReportDocument) -> bytes:
    """The file as a broken upload or a hostile server serves it (ATTACHMENT_DAMAGES)."""
    if damage == "truncated":  # an upload cut off: the first part of the file only
        return data[: len(data) * 2 // 5]
    if damage == "encrypted":  # saved with a password to open
        if fmt != "pdf":
            raise ValueError("the simulator encrypts PDF attachments only")
        return render_pdf(doc, password=hashlib.sha256(doc.title.encode()).hexdigest()[:8])
    if damage == "oversized":  # a report scanned at 600 dpi: the file, then tens of MB of image data
        return data + b"\n%" + bytes(range(256)) * (OVERSIZED_BYTES // 256)
    if damage == "zip_bomb":  # Office XML inflating to 40 MB of nothing from a few kB
        if fmt != "docx":
            raise ValueError("the simulator makes zip bombs of DOCX attachments only")
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
            for item in source.infolist():
                payload = source.read(item)
                if item.filename == "word/document.xml":
                    payload = payload.replace(b"<w:body>", b"<w:body>" + b" " * (40 * 2**20), 1)
                bomb.writestr(item, payload, compresslevel=9)
        return out.getvalue()
    raise ValueError(f"unknown attachment damage {damage!r}")


def plan_damaged_attachments(world: World) -> None:
    """One published report per kind of ATTACHMENT_DAMAGES gets its attachment served broken that way: a report
    with no other defect, of a form the damage happens to (a report published as a page becomes such an
    attachment when the world has none)."""
    rng = rng_for(world.seed, "damaged attachments")
    plain = [r for u in world.units for r in u.reports.values()
             if r.visible(world.today) and not r.defects and r.reposted_on is None and r.edited_on is None]
    for damage, forms in ATTACHMENT_DAMAGES.items():
        fitting = [r for r in plain if r.form in forms and r.damage is None]
        report = rng.choice(fitting or [r for r in plain if r.form not in ATTACHMENT_FORMS and r.damage is None])
        if report.form not in forms:
            report.form = rng.choice(forms)
        report.damage = damage
        report.defects.append("unreadable_attachment")


# ---------------------------------------------------------------------------------------------------- entry points

RENDERERS: dict[str, Callable[[ReportDocument], bytes]] = {"pdf": render_pdf, "docx": render_docx, "doc": render_doc, "xls": render_xls}


class _Rendered:
    """Rendered files by the content of what they render, least recently used dropped past _CACHE_BYTES."""

    def __init__(self) -> None:
        self.files: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0

    def get(self, key: str, make: Callable[[], bytes]) -> bytes:
        if key in self.files:
            self.files.move_to_end(key)
            return self.files[key]
        data = make()
        self.files[key] = data
        self.size += len(data)
        while self.size > _CACHE_BYTES:
            _, dropped = self.files.popitem(last=False)
            self.size -= len(dropped)
        return data


_RENDERED = _Rendered()


def _content_key(doc: ReportDocument, *what: str) -> str:
    data = json.dumps([dataclasses.asdict(doc), what], sort_keys=True, ensure_ascii=False, default=sorted)
    return hashlib.sha256(data.encode()).hexdigest()


def attachment_bytes(doc: ReportDocument, fmt: str, damage: str | None = None) -> bytes:
    """The file a report is published as: fmt is pdf, docx, doc or xls; `damage` breaks it (see `damaged`)."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown attachment format {fmt!r}; expected one of {', '.join(RENDERERS)}")
    data = _RENDERED.get(_content_key(doc, fmt), lambda: RENDERERS[fmt](doc))
    if damage is None:
        return data
    if damage == "oversized":  # 51 MB: made on each request rather than kept
        return damaged(data, fmt, damage, doc)
    return _RENDERED.get(_content_key(doc, fmt, damage), lambda: damaged(data, fmt, damage, doc))


def table_image_bytes(doc: ReportDocument, numeral: str) -> bytes:
    """The scanned picture of the table of section `numeral` (二, 三 or 四) of an image-only report."""
    return _RENDERED.get(_content_key(doc, "png", numeral), lambda: table_picture(doc, section_layout(doc, numeral)))
