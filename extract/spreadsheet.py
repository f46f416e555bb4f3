"""Spreadsheets → Grid: XLSX with openpyxl, XLS with xlrd; merged ranges become `Cell.span_of`.

A sheet often holds the whole report: title and prose in column A, the tables below. Rows with a single
unmerged text cell are therefore prose (`Paragraph`); runs of other rows are tables, split at empty
rows. Each sheet is read in order; a sheet name says nothing about the report and is dropped.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable

import openpyxl
import xlrd

from extract.attachments import MAX_CELLS, check_zip, printable_text, with_span_text
from extract.filetype import OLE_MAGIC
from extract.model import Block, Cell, ExtractionError, Grid, Paragraph, Table

SheetRows = list[list[str]]
_HEADING = re.compile(r"^\s*[一二三四五六七八九十]+、")
Merges = list[tuple[int, int, int, int]]  # first row, last row + 1, first col, last col + 1 (0-based)


def _text(value: object) -> str:
    """A cell value as printed: whole floats without ".0" (xlrd stores every number as a float)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return printable_text(str(value)).strip()


def read_xlsx(data: bytes) -> Grid:
    if data.startswith(OLE_MAGIC):
        raise ExtractionError("XLSX is encrypted (password-protected Office document)")
    check_zip(data, "XLSX")
    check_cells(data)
    # Not read_only: merged ranges are only available in the full model. data_only: cached formula results.
    book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    sheets = []
    for ws in book.worksheets:
        if ws.max_row * ws.max_column > MAX_CELLS:
            raise ExtractionError(f"XLSX sheet {ws.title!r} has {ws.max_row}×{ws.max_column} cells (> {MAX_CELLS})")
        rows = [[_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        merges = [(m.min_row - 1, m.max_row, m.min_col - 1, m.max_col) for m in ws.merged_cells.ranges]
        sheets.append((rows, merges))
    return _grid(sheets)


_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")


def check_cells(data: bytes) -> None:
    """Refuse a workbook of more than MAX_CELLS cells before openpyxl builds them all (~1 KB of memory each):
    count the <c> elements of the sheets' XML, inflated in 1 MB steps."""
    cells = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if not info.filename.startswith("xl/worksheets/"):
                continue
            with zf.open(info) as sheet:
                tail = b""
                while chunk := sheet.read(2**20):
                    cells += len(_CELL.findall(tail + chunk))
                    tail = chunk[-8:]
                    cells -= len(_CELL.findall(tail))  # counted again with the next chunk
                    if cells > MAX_CELLS:
                        raise ExtractionError(f"XLSX has more than {MAX_CELLS:,} cells: refused")


def read_xls(data: bytes) -> Grid:
    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True)
    except xlrd.biffh.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise ExtractionError("XLS is encrypted (password-protected workbook)") from exc
        raise ExtractionError(f"XLS is damaged or unreadable: {exc}") from exc
    sheets = []
    for index in range(book.nsheets):
        sh = book.sheet_by_index(index)
        if sh.nrows * sh.ncols > MAX_CELLS:
            raise ExtractionError(f"XLS sheet {sh.name!r} has {sh.nrows}×{sh.ncols} cells (> {MAX_CELLS})")
        rows = [[_text(sh.cell_value(r, c)) for c in range(sh.ncols)] for r in range(sh.nrows)]
        sheets.append((rows, list(sh.merged_cells)))
        book.unload_sheet(index)
    return _grid(sheets)


def _grid(sheets: Iterable[tuple[SheetRows, Merges]]) -> Grid:
    blocks: list[Block] = []
    for rows, merges in sheets:
        blocks.extend(_blocks(rows, merges, len([b for b in blocks if isinstance(b, Table)])))
    first = next((b.text for b in blocks if isinstance(b, Paragraph)), None)
    return Grid(blocks=blocks, title_candidates=[first] if first else [])


def _blocks(rows: SheetRows, merges: Merges, first_index: int) -> list[Block]:
    width = max((len(r) for r in rows), default=0)
    rows = [r + [""] * (width - len(r)) for r in rows]
    origin: dict[tuple[int, int], tuple[int, int]] = {}
    for r0, r1, c0, c1 in merges:
        for r in range(r0, min(r1, len(rows))):
            for c in range(c0, min(c1, width)):
                if (r, c) != (r0, c0):
                    origin[(r, c)] = (r0, c0)
    merged_rows = {r for r, _ in origin} | {r0 for r0, _, _, _ in merges}
    # Prose pasted into a sheet sits in column A, alone or merged across the whole sheet width.
    prose_rows = {r0 for r0, r1, c0, c1 in merges if r1 - r0 == 1 and c0 == 0 and c1 >= width}

    blocks: list[Block] = []
    run: list[int] = []

    def close() -> None:
        if run:
            index = first_index + len([b for b in blocks if isinstance(b, Table)])
            blocks.append(_table(rows, run, origin, index))
            run.clear()

    def tabular(r: int) -> bool:
        return r < len(rows) and (sum(1 for t in rows[r] if t) >= 2 or (r in merged_rows and r not in prose_rows))

    for r, row in enumerate(rows):
        filled = [t for t in row if t]
        if not filled and r not in merged_rows:
            close()
        elif len(filled) == 1 and row[0] and (r in prose_rows or (r not in merged_rows and not _caption(row[0], r, tabular))):
            close()
            blocks.append(Paragraph(filled[0]))
        else:
            run.append(r)
    close()
    return blocks


def _caption(text: str, r: int, tabular: Callable[[int], bool]) -> bool:
    """A table's caption row ("第二十条第（一）项") whose merge across the table was lost: a short line, not a
    section heading, directly above a table row."""
    return len(text) <= 30 and not _HEADING.match(text) and tabular(r + 1)


def _table(rows: SheetRows, run: list[int], origin: dict[tuple[int, int], tuple[int, int]], index: int) -> Table:
    used = [c for c in range(len(rows[0])) if any(rows[r][c] or (r, c) in origin for r in run)]
    # A column every row of the table covers by a merge from the left only subdivides the sheet's grid
    # (Calc lays several tables on one grid): dropping it gives the table its own columns.
    cols = [c for c in range(used[0], used[-1] + 1) if not all(origin.get((r, c), (0, c))[1] < c for r in run)]
    new_col = {c: j for j, c in enumerate(cols)}
    first = run[0]
    out: list[list[Cell]] = []
    for i, r in enumerate(run):
        row = []
        for j, c in enumerate(cols):
            src = origin.get((r, c))
            if src is None:
                row.append(Cell(rows[r][c], index, i, j))
            elif src[0] >= first and src[1] in new_col:
                row.append(Cell("", index, i, j, span_of=(src[0] - first, new_col[src[1]])))
            else:  # a merge reaching in from outside this table (a title row above): no origin here
                row.append(Cell("", index, i, j))
        out.append(row)
    return Table(index, with_span_text(out))
