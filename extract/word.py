"""Word documents → Grid: DOCX from its XML (python-docx), old DOC via LibreOffice or `antiword -x db`.

DOCX merged cells are read from the XML itself (w:gridSpan, w:vMerge) so every covered position points at
the cell holding the text. Old DOC is converted to DOCX by LibreOffice (~1.5 s), which keeps merged cells
and also reads RTF, Word 6/95 and WPS files. antiword (~2 ms) is only the fallback when LibreOffice is
missing or fails: it splits a table into one <tgroup> per column layout (rebuilt here from the column
widths), but on tables with vertically merged cells it drops rows or prints "cell |cell |…" paragraphs
(such output is refused), so it is not trusted first.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from pathlib import Path

import docx
from docx.text.paragraph import Paragraph as DocxParagraph
from lxml import etree

from extract.attachments import check_zip, printable_text, run_tool, with_span_text
from extract.filetype import OLE_MAGIC
from extract.model import Block, Cell, ExtractionError, Grid, Paragraph, Table
from extract.msdoc import NotNative, read_word97

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MANGLED_TABLE = re.compile(r"(\S[^|\n]*\|){3}")  # antiword's text fallback for a table it cannot lay out
_LO_LOCK = threading.Lock()


def read_docx(data: bytes) -> Grid:
    if data.startswith(OLE_MAGIC):
        raise ExtractionError("DOCX is encrypted (password-protected Office document)")
    check_zip(data, "DOCX")
    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    titles: list[str] = []
    _walk(document.element.body, document, blocks, titles)
    core_title = (document.core_properties.title or "").strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in core_title):
        titles.insert(0, core_title)
    images = sum(b.images for b in blocks if isinstance(b, Paragraph))
    return Grid(blocks=blocks, title_candidates=list(dict.fromkeys(titles)), images=images)


def _walk(parent: etree._Element, document: docx.document.Document, blocks: list[Block], titles: list[str]) -> None:
    for child in parent.iterchildren():
        if child.tag == W + "p":
            para = DocxParagraph(child, document)
            text = printable_text(para.text).strip()
            images = len(child.findall(f".//{W}drawing")) + len(child.findall(f".//{W}pict"))
            if text or images:
                blocks.append(Paragraph(text, images=images))
            style = (para.style.name if para.style is not None else "") or ""
            if text and (style == "Title" or style.startswith("Heading 1") or style == "标题"):
                titles.append(text)
        elif child.tag == W + "tbl":
            blocks.append(_docx_table(child, document, len([b for b in blocks if isinstance(b, Table)])))
        elif child.tag == W + "sdt":  # content controls wrap whole blocks in some templates
            content = child.find(W + "sdtContent")
            if content is not None:
                _walk(content, document, blocks, titles)


def _val(element: etree._Element | None, default: int = 1) -> int:
    if element is None:
        return default
    try:
        return int(element.get(W + "val", default))
    except ValueError:
        return default


def _cell_text(tc: etree._Element, document: docx.document.Document) -> str:
    # Paragraphs of nested tables are included: a nested table's text stays inside its cell.
    return "\n".join(t for p in tc.iter(W + "p") if (t := printable_text(DocxParagraph(p, document).text).strip()))


def _docx_table(tbl: etree._Element, document: docx.document.Document, index: int) -> Table:
    rows: list[list[Cell]] = []
    vertical: dict[int, tuple[int, int]] = {}  # column → origin of the vertical merge running through it
    for r, tr in enumerate(tbl.findall(W + "tr")):
        row: list[Cell] = []
        trpr = tr.find(W + "trPr")
        before = _val(trpr.find(W + "gridBefore") if trpr is not None else None, 0)
        row.extend(Cell("", index, r, c) for c in range(before))
        for tc in tr.findall(W + "tc"):
            tcpr = tc.find(W + "tcPr")
            span = max(1, _val(tcpr.find(W + "gridSpan") if tcpr is not None else None))
            vmerge = tcpr.find(W + "vMerge") if tcpr is not None else None
            c = len(row)
            continues = vmerge is not None and vmerge.get(W + "val", "continue") == "continue" and c in vertical
            origin = vertical[c] if continues else (r, c)
            if not continues:
                row.append(Cell(_cell_text(tc, document), index, r, c))
                vertical.pop(c, None)
                if vmerge is not None:
                    vertical[c] = origin
            while len(row) < c + span:
                row.append(Cell("", index, r, len(row), span_of=origin))
        rows.append(row)
    width = max((len(r) for r in rows), default=0)
    for r, row in enumerate(rows):
        row.extend(Cell("", index, r, c) for c in range(len(row), width))
    return Table(index, with_span_text(rows))


def read_doc(data: bytes) -> Grid:
    """Old Word (and WPS, RTF): Word 97+ natively (extract.msdoc); what that reader does not follow (Word 6/95,
    nested tables, RTF) goes to LibreOffice, which keeps merged tables; antiword is the last resort without it."""
    if not (data.startswith(OLE_MAGIC) or data.lstrip().startswith(b"{\\rtf")):
        raise ExtractionError("DOC is neither an OLE2 (Word 97–2003/WPS) file nor RTF")
    if data.startswith(OLE_MAGIC):
        try:
            return read_word97(data)
        except NotNative:
            pass  # damage and encryption are final: no other reader gets further
    try:
        return read_docx(libreoffice_convert(data, "doc", "docx"))
    except ExtractionError as exc:
        if data.lstrip().startswith(b"{\\rtf"):
            raise
        grid = _antiword(data)
        if grid is None:
            raise exc from None
        return grid


def _antiword(data: bytes) -> Grid | None:
    with tempfile.NamedTemporaryFile(suffix=".doc") as f:
        f.write(data)
        f.flush()
        result = run_tool(["antiword", "-x", "db", "-m", "UTF-8.txt", f.name], what="DOC (antiword)")
    if b"encrypt" in result.stderr.lower():
        raise ExtractionError("DOC is encrypted (password-protected Word document)")
    return _docbook(result.stdout) if result.returncode == 0 else None


def _text(element: etree._Element) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _para_text(element: etree._Element) -> str:
    """A <para>'s own text; a table inside it is a block of its own."""
    parts = [element.text or ""]
    for child in element:
        if child.tag not in ("informaltable", "table"):
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _docbook(xml: bytes) -> Grid | None:
    """antiword's DocBook → Grid, or None when a table came out mangled."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True)
    root = etree.fromstring(xml, parser)
    if root is None:
        return None
    blocks: list[Block] = []
    for element in root.iter("title", "para", "informaltable", "table"):
        if element.tag in ("title", "para"):
            if element.getparent() is not None and element.getparent().tag in ("book", "bookinfo"):
                continue  # antiword decodes the document properties with the wrong code page
            text = _para_text(element)
            if _MANGLED_TABLE.search(text):
                return None
            if text:
                blocks.append(Paragraph(text))
        else:
            blocks.append(_docbook_table(element, len([b for b in blocks if isinstance(b, Table)])))
    titles = [b.text for b in blocks[:1] if isinstance(b, Paragraph)]
    return Grid(blocks=blocks, title_candidates=titles)


def _docbook_table(table: etree._Element, index: int) -> Table:
    """Rows of every <tgroup> on one column grid: the union of the groups' column edges (from widths)."""
    groups = []
    for tgroup in table.iter("tgroup"):
        widths = [float(re.sub(r"[^\d.]", "", cs.get("colwidth", "0")) or 0) for cs in tgroup.findall("colspec")]
        edges = [sum(widths[:i]) for i in range(len(widths) + 1)]
        groups.append((edges, [[_text(e) for e in row.findall("entry")] for row in tgroup.iter("row")]))
    grid: list[float] = []
    for x in sorted(x for edges, _ in groups for x in edges):
        if not grid or x - grid[-1] > 2.0:  # points; Word rounds widths differently per row
            grid.append(x)
    rows: list[list[Cell]] = []
    for edges, texts in groups:
        starts = [min(range(len(grid)), key=lambda i, x=x: abs(grid[i] - x)) for x in edges]
        for texts_of_row in texts:
            r = len(rows)
            row = [Cell("", index, r, c) for c in range(max(len(grid) - 1, 1))]
            for k, text in enumerate(texts_of_row):
                if k + 1 >= len(starts):
                    break
                c0, c1 = starts[k], max(starts[k + 1], starts[k] + 1)
                row[c0] = Cell(text, index, r, c0)
                for c in range(c0 + 1, min(c1, len(row))):
                    row[c] = Cell("", index, r, c, span_of=(r, c0))
            rows.append(row)
    return Table(index, with_span_text(rows))


def libreoffice_convert(data: bytes, suffix: str, target: str) -> bytes:
    """Convert with LibreOffice headless in a private profile (a shared one makes concurrent calls fail)."""
    profile = Path(tempfile.gettempdir()) / f"nianbao-lo-{os.getuid()}-{os.getpid()}"
    with _LO_LOCK, tempfile.TemporaryDirectory(prefix="nianbao-convert-") as tmp:
        src = Path(tmp) / f"in.{suffix}"
        src.write_bytes(data)
        args = ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore"]
        result = run_tool([*args, "--convert-to", target, "--outdir", tmp, str(src)], what=f"{suffix.upper()} (LibreOffice)")
        out = Path(tmp) / f"in.{target}"
        if not out.exists():
            raise ExtractionError(f"{suffix.upper()} could not be converted by LibreOffice: {result.error_line}")
        return out.read_bytes()
