"""Plain text → Grid. Three flattenings of the report tables are seen in the wild (report_format.md §5.1,
portal_patterns.md §3): tab-separated rows (seeds 000/001), one cell per line with a leading tab and a
blank line between rows (seeds 002–004), and Markdown pipe tables."""

from __future__ import annotations

import re

from extract.model import Block, Cell, Grid, Paragraph, Table

_PIPE_SEPARATOR = re.compile(r"^\|?[\s:|-]+\|?$")
# "一、本年新收政府信息公开申请数量  4 0 0 0 0 0 4": a PDF-to-text row with spaces between cells.
# A label that is no sentence (no 。；), then whitespace-separated numbers only.
_SPACED_ROW = re.compile(
    r"^(?P<label>(?:\d{1,2}[.、．]|[^。；;\d])[^。；;]{0,60}?)?\s*"
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
        if "\t" in body:
            table.end_pending_row()
            table.add_row([(cell, number) for cell in body.split("\t")], exact=False)
            previous_was_cell = False
            continue
        stripped = body.strip()
        if stripped.startswith("|") and stripped.count("|") >= 2:
            table.end_pending_row()
            if not _PIPE_SEPARATOR.match(stripped):
                cells = stripped.strip("|").split("|")
                table.add_row([(cell.strip(), number) for cell in cells], exact=False)
            previous_was_cell = False
            continue
        if not stripped:
            table.end_pending_row()
            previous_was_cell = False
            continue
        spaced = _SPACED_ROW.match(stripped)
        if spaced and (spaced["label"] or len(spaced["numbers"].split()) > 1) and not previous_was_cell:
            table.end_pending_row()
            label = [(spaced["label"].strip(), number)] if spaced["label"] else []
            table.add_row(label + [(n, number) for n in spaced["numbers"].split()], exact=False)
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
