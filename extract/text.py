"""Plain text → Grid. Three flattenings of the report tables are seen in the wild (report_format.md §5.1,
portal_patterns.md §3): tab-separated rows (seeds 000/001), one cell per line with a leading tab and a
blank line between rows (seeds 002–004), and Markdown pipe tables."""

from __future__ import annotations

import re

from extract.labels import table_region
from extract.model import Block, Cell, Grid, Paragraph, Table
from extract.values import looks_numeric

_PIPE_SEPARATOR = re.compile(r"^\|?[\s:|-]+\|?$")
# "一、本年新收政府信息公开申请数量  4 0 0 0 0 0 4": a PDF-to-text row with spaces between cells.
# A label that is no sentence (no 。；), then whitespace-separated numbers only.
_SPACED_ROW = re.compile(
    r"^(?:(?P<label>(?:\d{1,2}[.、．]|[^。；;\d])[^。；;]{0,60}?)\s+)?"
    r"(?P<numbers>(?:[-+]?\d+(?:\.\d+)?(?:/\d+)?[ \u3000\u00a0]+)*[-+]?\d+(?:\.\d+)?(?:/\d+)?)$"
)


class _TableBuilder:
    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.rows: list[list[Cell]] = []
        self.exact = True
        self.pending: list[tuple[str, int]] = []  # cells of a one-cell-per-line row being read

    @property
    def index(self) -> int:
        return sum(isinstance(b, Table) for b in self.blocks)

    def add_row(self, texts: list[tuple[str, int]], exact: bool) -> None:
        if self.rows and exact != self.exact:
            self.flush()
        self.exact = exact
        row = len(self.rows)
        self.rows.append([Cell(text, self.index, row, col, line=line) for col, (text, line) in enumerate(texts)])

    def end_pending_row(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            self.add_row(pending, exact=True)

    def flush(self) -> None:
        if self.rows:
            self.blocks.append(Table(self.index, self.rows, self.exact))
            self.rows = []

    def close(self) -> None:
        self.end_pending_row()
        self.flush()


def flattened_row(line: str) -> tuple[list[str], bool] | None:
    """The cells of a table row flattened into one line, and whether its blank cells are real: Markdown
    pipes delimit every cell; tabs and spaces lose and add empty cells where labels were merged.
    None when the line is prose."""
    if "\t" in line:
        return line.split("\t"), False
    stripped = line.strip()
    if stripped.startswith("|") and stripped.count("|") >= 2:
        if _PIPE_SEPARATOR.match(stripped):
            return [], True
        return [cell.strip() for cell in stripped.strip("|").split("|")], True
    spaced = _SPACED_ROW.match(stripped)
    if spaced and (spaced["label"] or len(spaced["numbers"].split()) > 1):
        return ([spaced["label"].strip()] if spaced["label"] else []) + spaced["numbers"].split(), False
    return None


def tabulate(blocks: list[Block]) -> list[Block]:
    """HTML pages that print the report's tables as text: runs of paragraphs that are flattened rows,
    or one cell per paragraph (a few label paragraphs, then one paragraph per value or printed blank
    line), become tables. Trailing blanks of such rows are row separators, which alignment drops."""
    out: list[Block] = []
    table = _TableBuilder(out)
    cells: list[tuple[str, int | None]] = []  # the one-cell-per-paragraph row being read
    for block in blocks:
        text = block.text if isinstance(block, Paragraph) else ""
        if cells and isinstance(block, Paragraph) and not text:
            cells.append(("", block.line))  # a printed empty line inside a row: a blank cell
            continue
        if isinstance(block, Paragraph) and _is_single_value(text) and (cells or any(c.isdigit() for c in text)):
            if not cells:
                labels = _trailing_labels(out)
                del out[len(out) - len(labels):]
                cells = [(b.text, b.line) for b in labels]
            cells.append((text, block.line))
            continue
        if cells:
            table.add_row(cells, exact=True)
            cells = []
        row = flattened_row(text) if isinstance(block, Paragraph) else None
        if row is None:
            table.close()
            out.append(block)
        elif row[0]:
            table.add_row([(cell, block.line) for cell in row[0]], exact=row[1])
    if cells:
        table.add_row(cells, exact=True)
    table.close()
    return out


_MAX_ROW_LABELS = 3  # group, sub-group and row label of section 三


def _is_single_value(text: str) -> bool:
    return bool(text) and len(text) <= 16 and " " not in text.strip() and looks_numeric(text)


def _trailing_labels(blocks: list[Block]) -> list[Paragraph]:
    """The short label paragraphs right before a value: the row's labels (captions stay prose)."""
    labels: list[Paragraph] = []
    for block in reversed(blocks):
        if not isinstance(block, Paragraph) or not block.text or len(block.text) > 60 or len(labels) == _MAX_ROW_LABELS:
            break
        if table_region(block.text) in ("active", "appeals"):
            break
        labels.insert(0, block)
    return labels


def read_text(text: str) -> Grid:
    blocks: list[Block] = []
    table = _TableBuilder(blocks)
    previous_was_cell = False
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.rstrip("\r\n")
        if body.startswith("\t") and "\t" not in body[1:]:
            # one cell per line: a leading tab opens a cell
            table.pending.append((body[1:], number))
            previous_was_cell = True
            continue
        stripped = body.strip()
        # after a cell line, a line without tabs continues that cell ("本年新\n制作数量")
        row = flattened_row(body) if "\t" in body or not previous_was_cell else None
        if row is not None:
            table.end_pending_row()
            if row[0]:
                table.add_row([(cell, number) for cell in row[0]], exact=row[1])
            previous_was_cell = False
            continue
        if not stripped:
            table.end_pending_row()
            previous_was_cell = False
            continue
        if previous_was_cell and table.pending:
            # a line break inside a cell ("本年新\n制作数量")
            text_so_far, first_line = table.pending[-1]
            table.pending[-1] = (f"{text_so_far}\n{body}", first_line)
            continue
        table.close()
        blocks.append(Paragraph(body, line=number))
        previous_was_cell = False
    table.close()
    return Grid(blocks)
