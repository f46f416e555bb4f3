"""Plain text → Grid. Three flattenings of the report tables are seen in the wild (report_format.md §5.1,
portal_patterns.md §3): tab-separated rows (seeds 000/001), one cell per line with a leading tab and a
blank line between rows (seeds 002–004), and Markdown pipe tables."""

from __future__ import annotations

import re

from extract.labels import table_region
from extract.limits import MAX_CELLS, MAX_TEXT_LINES, Deadline
from extract.model import Block, Cell, Grid, Paragraph, Table, UnreadableDocument
from extract.values import looks_numeric

_PIPE_SEPARATOR = re.compile(r"^\|?[\s:|-]+\|?$")
# "一、本年新收政府信息公开申请数量  4 0 0 0 0 0 4": a PDF-to-text row with spaces between cells.
# A label that is no sentence (no 。；), then whitespace-separated numbers only.
_SPACED_ROW = re.compile(
    r"^(?:(?P<label>(?:\d{1,2}[.、．]|[^。；;\d])[^。；;]{0,60}?)\s+)?"
    r"(?P<numbers>(?:[-+]?\d+(?:\.\d+)?(?:/\d+)?[ \u3000\u00a0]+)*[-+]?\d+(?:\.\d+)?(?:/\d+)?)$"
)
# Control characters mean nothing in a report and may not reach a terminal or a spreadsheet: NUL, ESC and the
# like are dropped, vertical tab and form feed (Word's line and page breaks) become line breaks.
_LINE_BREAKS = bytes.maketrans(b"\x0b\x0c", b"\n\n")
_CONTROLS = bytes(range(0x09)) + bytes(range(0x0E, 0x20)) + b"\x7f"


def printable(data: bytes) -> bytes:
    """Text in an ASCII-compatible encoding (UTF-8, GB18030, Big5: no byte of their multi-byte characters is a
    control byte) without control characters other than tab and line breaks."""
    return data.translate(_LINE_BREAKS, _CONTROLS)


class _TableBuilder:
    def __init__(self, blocks: list[Block], first_index: int = 0) -> None:
        self.blocks = blocks
        self.rows: list[list[Cell]] = []
        self.exact = True
        self.pending: list[tuple[list[str], int]] = []  # lines of each cell of a one-cell-per-line row being read
        self.index = first_index  # of the table being built: after every other table's, so cells' places are unique
        self.cells = 0  # of all its tables

    def add_row(self, texts: list[tuple[str, int]], exact: bool) -> None:
        self.cells += len(texts)
        if self.cells > MAX_CELLS:
            raise UnreadableDocument(f"text with more than {MAX_CELLS:,} table cells")
        if self.rows and exact != self.exact:
            self.flush()
        self.exact = exact
        row = len(self.rows)
        self.rows.append([Cell(text, self.index, row, col, line=line) for col, (text, line) in enumerate(texts)])

    def end_pending_row(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            self.add_row([("\n".join(lines), first_line) for lines, first_line in pending], exact=True)

    def flush(self) -> None:
        if self.rows:
            self.blocks.append(Table(self.index, self.rows, self.exact))
            self.index += 1
            self.rows = []

    def close(self) -> None:
        self.end_pending_row()
        self.flush()

    def add_block(self, block: Block) -> None:
        """A paragraph, or a table read as one (keeping its index): it ends the table being built."""
        self.close()
        self.blocks.append(block)


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
    table = _TableBuilder(out, first_index=sum(isinstance(block, Table) for block in blocks))
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
            table.add_block(block)
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


def read_text(text: str, deadline: Deadline | None = None) -> Grid:
    # Line breaks are counted before splitting: the list of lines would be the big part.
    if max(text.count("\n"), text.count("\r")) > MAX_TEXT_LINES or len(lines := text.splitlines()) > MAX_TEXT_LINES:
        raise UnreadableDocument(f"text of more than {MAX_TEXT_LINES:,} lines")
    # Every tab opens a cell: too many are refused before a line of them is split.
    if text.count("\t") > MAX_CELLS:
        raise UnreadableDocument(f"text with more than {MAX_CELLS:,} table cells")
    deadline = deadline or Deadline()
    blocks: list[Block] = []
    table = _TableBuilder(blocks)
    previous_was_cell = False
    for number, line in enumerate(lines, start=1):
        if not number % 4096:
            deadline.check(f"reading line {number}")
        body = line.rstrip("\r\n")
        if body.startswith("\t") and "\t" not in body[1:]:
            # one cell per line: a leading tab opens a cell
            table.pending.append(([body[1:]], number))
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
            table.pending[-1][0].append(body)  # a line break inside a cell ("本年新\n制作数量")
            continue
        table.add_block(Paragraph(body, line=number))
        previous_was_cell = False
    table.close()
    return Grid(blocks)
