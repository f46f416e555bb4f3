"""Grid → Report: sections, template, unit and year, and every table cell mapped to its schema key.

Tables are read as one stream of rows, whatever container they came in (one table per block, one
table for all of section 二, text rows): a row is a label followed by value cells, and the label
says which key the values belong to. Where a row's values sit is taken from the row itself, not
from column positions, because flattened merged cells shift positions (report_format.md §5.1).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from extract.labels import EXACT, PREFIX, best_match, leaf, match_score, normalize, table_region
from extract.limits import Deadline, memoized
from extract.model import Cell, FieldValue, Grid, Paragraph, Report, Table
from extract.schema import (
    APPEAL_COLUMNS,
    APPEAL_GROUPS,
    COUNT,
    FIELDS_BY_KEY,
    REQUEST_COLUMNS,
    REQUEST_GROUPS,
    REQUEST_LEGAL_PERSON_COLUMNS,
    REQUEST_OTHER_SUBROWS,
    SECTIONS,
    TEMPLATE_SIGNATURE_COLUMNS,
    Label,
    active_tables,
    request_rows,
    template_keys,
)
from extract.values import ParsedValue, clean_cell_text, looks_numeric, parse_value

_NUMERALS = "一二三四五六"
_HEADING = re.compile(r"^([一二三四五六])[、.．]\s*(.*)$")
_YEAR_IN_TITLE = re.compile(r"(20[12]\d)\s*年")
_PERIOD = re.compile(r"(?:统计期限|统计期|统计时限|时间范围)[^。]{0,12}?自?\s*(20[12]\d)\d{0,2}\s*年\s*1\s*月\s*1\s*日")
_PERIOD_END = re.compile(r"至\s*(20[12]\d)\s*年\s*12\s*月\s*3[01]\s*日")
_URL_YEAR = re.compile(r"(?:^|[/_=])(?:gknb|nb_?)?(20[12]\d)(?:n|nb|nd)?(?:[/_&]|$)")
_UNIT_SUFFIX_NOISE = re.compile(r"^(?:关于|【[^】]*】)")
APPEAL_KEYS = tuple(f"{g.key}.{c}" for g in APPEAL_GROUPS for c, _ in APPEAL_COLUMNS)
_GROUPS = tuple((g.key, g.label) for g in REQUEST_GROUPS)
_BLANK, _VALUE, _LABEL = range(3)
_CHECK_EVERY = 256  # rows or texts between deadline checks: a distinct label takes up to ~1 ms to match


@memoized
def _cell_kind(text: str) -> tuple[int, str | None]:
    """What a cell holds — _BLANK, _VALUE (a number or an explicit nothing) or _LABEL — and the table region its
    text opens (labels.table_region): read once per distinct text, since the same cells recur in every report."""
    if not clean_cell_text(text):
        kind = _BLANK
    elif looks_numeric(text):
        kind = _VALUE
    else:
        kind = _LABEL
    return kind, table_region(text)


class _Kinds(dict[str, tuple[int, str | None]]):
    """_cell_kind of each distinct cell text of one document, looked up at dict speed after the first time."""

    def __missing__(self, text: str) -> tuple[int, str | None]:
        kind = self[text] = _cell_kind(text)
        return kind

    def blank(self, cell: Cell) -> bool:
        return self[cell.text][0] == _BLANK


@dataclass
class _Row:
    """A table row as read: each merged (colspan) cell once — rowspan copies stay as label context — split into
    the label cells and the value cells that follow the last non-empty, non-numeric cell."""

    labels: list[Cell]
    values: list[Cell]
    regions: set[str | None]  # the table regions its cells open

    @classmethod
    def of(cls, cells: list[Cell], kinds: _Kinds) -> _Row:
        distinct = [c for c in cells if c.span_of is None or c.span_of[0] != c.row]
        found = [kinds[c.text] for c in distinct]
        last_label = -1
        for i, (kind, _) in enumerate(found):
            if kind == _LABEL:
                last_label = i
        return cls(distinct[: last_label + 1], distinct[last_label + 1 :], {region for _, region in found})


@dataclass
class _Values:
    """Value cells aligned onto the columns a row expects."""

    cells: list[Cell | None]
    short_by_one: bool = False  # a 7-column row printed with 6 numbers
    unplaced: bool = False  # a flattened row with too few values to know which columns they belong to


def align(values: list[Cell], expected: int, exact: bool, kinds: _Kinds) -> _Values:
    """Fit a row's value cells onto `expected` columns.

    Exact grids (HTML, one cell per line) keep blank cells, which are real; flattened rows (tabs,
    pipes) lose and add empty cells at their edges when labels were merged, so those go first.
    """
    blank = kinds.blank
    start, end = 0, len(values)  # trimmed by moving the ends: popping from the front is quadratic on long rows
    if not exact:
        while end > start and blank(values[end - 1]):
            end -= 1
        while end > start and blank(values[start]):
            start += 1
    while end - start > expected and blank(values[end - 1]):
        end -= 1
    while end - start > expected and blank(values[start]):
        start += 1
    cells = values[max(start, end - expected) : end]
    if len(cells) == expected - 1 and expected == len(REQUEST_COLUMNS) and not any(map(blank, cells)):
        return _Values([*cells, None], short_by_one=True)
    if not exact and len(cells) < expected:
        # Blank cells vanished with the merged ones: placing the rest from the left would be a guess.
        return _Values([None] * expected, unplaced=bool(cells))
    return _Values([*cells, *([None] * (expected - len(cells)))])


@dataclass
class _Builder:
    grid: Grid
    template: str | None = None
    fields: dict[str, FieldValue] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    found_active: bool = False
    found_requests: set[str] = field(default_factory=set)
    found_appeals: bool = False
    full_request_rows: dict[int, bool] = field(default_factory=dict)  # per table: does any row print all 7?
    kinds: _Kinds = field(default_factory=_Kinds)

    # ------------------------------------------------------------------ tables

    def detect_template(self, deadline: Deadline) -> str | None:
        texts = Counter(c.text for table in self.grid.tables for row in table.rows for c in row if c.span_of is None)
        # header rows flattened into one line of prose
        lines = Counter(b.text for b in self.grid.blocks if isinstance(b, Paragraph) and len(b.text) < 80)
        totals = [0] * len(TEMPLATE_SIGNATURE_COLUMNS)
        for counted, votes_of in ((texts, _cell_votes), (lines, _line_votes)):
            for n, (text, times) in enumerate(counted.items()):
                if not n % _CHECK_EVERY:
                    deadline.check(f"telling the template, text {n}")
                for i, vote in enumerate(votes_of(text)):
                    totals[i] += times * vote
        votes = dict(zip(TEMPLATE_SIGNATURE_COLUMNS, totals, strict=True))
        if votes["2021"] != votes["2019"]:
            return max(votes, key=lambda t: votes[t])
        # No section-二 labels: the 2021 split of （六）其他处理 into three rows still tells.
        subrow_labels = [r.label for r in request_rows("2021") if r.key in REQUEST_OTHER_SUBROWS[:2]]
        if any(match_score(t, label) >= PREFIX for t in texts for label in subrow_labels):
            return "2021"
        return None

    def read_tables(self, deadline: Deadline) -> None:
        template = self.template
        assert template is not None
        region: str | None = None
        group: str | None = None
        appeal_values: list[Cell] = []
        for block in self.grid.blocks:
            if isinstance(block, Paragraph):
                # Flattened tables keep their header lines as prose: they still say where we are.
                opened = {table_region(block.text)}
                region = _region_of(opened, region) or region
                if region == "appeals" and len(appeal_values) >= len(APPEAL_KEYS):
                    region = None
                if _region_of(opened, None) == "appeals":
                    appeal_values = []
                continue
            for n, cells in enumerate(block.rows):
                if not n % _CHECK_EVERY:  # a table of 100,000 distinct labels takes minutes to match
                    deadline.check(f"matching table {block.index} row {n}")
                row = _Row.of(cells, self.kinds)
                switched = _region_of(row.regions, region)
                if switched:
                    if switched == "appeals" and region != "appeals":
                        appeal_values = []
                    region = switched
                    continue
                labels, values = row.labels, row.values
                if not values or (not labels and region != "appeals"):
                    continue
                leaf_cell = labels[-1] if labels else None
                # A row with nothing but blanks after its label must name a row outright; a keyword is
                # not enough (header rows such as "信息内容 | 本年收费金额" end in padding cells).
                blank_row = all(map(self.kinds.blank, values))
                if blank_row and leaf_cell is not None and not _names_a_row(leaf_cell.text, template):
                    continue
                if region in (None, "active") and leaf_cell is not None:
                    key = _active_row_named(leaf_cell.text, template)
                    if key is not None:
                        region = "active"
                        self.active_row(key, values, block)
                        continue
                if region in (None, "active", "requests") and leaf_cell is not None:
                    group, key = _request_row_key(labels, group, template)
                    if key is not None:
                        region = "requests"
                        self.request_row(key, leaf_cell, values, block)
                        continue
                if region == "appeals" and len(appeal_values) < len(APPEAL_KEYS) and not blank_row:
                    # (a header row padded with empty cells holds no values)
                    appeal_values.extend(self.appeal_cells(values, block))
                    if len(appeal_values) >= len(APPEAL_KEYS):
                        self.appeals(appeal_values[: len(APPEAL_KEYS)])

    # ------------------------------------------------------------------ one row

    def put(self, key: str, cell: Cell | None, parsed: ParsedValue | None = None) -> None:
        if key in self.fields and self.fields[key].where is not None:
            self.warnings.append(f"{key} printed twice; kept the first ({self.fields[key].where})")
            return
        if cell is None:
            self.fields[key] = FieldValue(None, None, None, note="cell missing from the row")
            return
        field_def = FIELDS_BY_KEY[key]
        parsed = parsed or parse_value(cell.text, field_def.value_type)
        confident = cell.confidence is None or cell.confidence >= 0.9
        if not confident:
            parsed = ParsedValue(None, f"OCR unsure (confidence {cell.confidence:.2f})")
        self.fields[key] = FieldValue(parsed.value, cell.text, cell.where, note=parsed.note)

    def active_row(self, row_key: str, values: list[Cell], table: Table) -> None:
        spec = next(t for t in active_tables(self.template) if any(r.key == row_key for r in t.rows))
        aligned = align(values, len(spec.columns), table.exact_columns, self.kinds)
        self.unplaced(f"active.{row_key}", values, aligned)
        for col, cell in zip(spec.columns, aligned.cells, strict=True):
            self.put(f"active.{row_key}.{col.key}", cell)
        self.found_active = True

    def unplaced(self, prefix: str, values: list[Cell], aligned: _Values) -> None:
        if aligned.unplaced:
            printed = " ".join(c.text.strip() for c in values if not self.kinds.blank(c))
            self.warnings.append(f"{prefix}: values {printed} cannot be placed in their columns; left null")

    def request_row(self, row_key: str, label: Cell, values: list[Cell], table: Table) -> None:
        aligned = align(values, len(REQUEST_COLUMNS), table.exact_columns, self.kinds)
        prefix = f"requests.{row_key}"
        self.unplaced(prefix, values, aligned)
        if self.padded_short_row(aligned, table):
            aligned = _Values([*aligned.cells[:-1], None], short_by_one=True)
        if aligned.short_by_one:
            self.six_number_row(prefix, [c for c in aligned.cells if c is not None])
        else:
            for col, cell in zip(REQUEST_COLUMNS, aligned.cells, strict=True):
                self.put(f"{prefix}.{col.key}", cell)
        self.found_requests.add(row_key)

    def padded_short_row(self, aligned: _Values, table: Table) -> bool:
        """A 6-number row that a converter padded with an empty cell at its end (LibreOffice, PDF):
        six printed numbers and a blank 总计, in a table whose other rows print all seven."""
        cells = aligned.cells
        kinds = self.kinds
        if aligned.short_by_one or cells[-1] is None or not kinds.blank(cells[-1]):
            return False
        if not all(c is not None and not kinds.blank(c) for c in cells[:-1]):
            return False
        if table.index not in self.full_request_rows:
            self.full_request_rows[table.index] = any(
                len(vals) >= 7 and all(kinds[c.text][0] == _VALUE for c in vals[-7:])
                for vals in (_Row.of(r, kinds).values for r in table.rows)
            )
        return self.full_request_rows[table.index]

    def six_number_row(self, prefix: str, cells: list[Cell]) -> None:
        """A row that lost one legal-person column: first = 自然人, last = 总计 (report_format.md §5.1).

        The five legal-person values are kept only when arithmetic and non-negativity force them
        whichever column was lost: all remaining middle numbers equal and the lost one equal to them.
        """
        natural, _middle, total = cells[0], cells[1:-1], cells[-1]
        self.put(f"{prefix}.natural_person", natural)
        self.put(f"{prefix}.total", total)
        parsed = [parse_value(c.text, COUNT).value for c in cells]
        nat, mid, tot = parsed[0], parsed[1:-1], parsed[-1]
        forced: int | None = None
        if nat is not None and tot is not None and all(v is not None for v in mid):
            lost = tot - nat - sum(v for v in mid if v is not None)
            if lost >= 0 and all(v == lost for v in mid):
                forced = lost
        row_text = " ".join(c.text.strip() for c in cells)
        for col in REQUEST_LEGAL_PERSON_COLUMNS:
            key = f"{prefix}.{col}"
            if forced is None:
                self.fields[key] = FieldValue(None, None, None, note=f"row printed 6 numbers ({row_text}); "
                                              "which legal-person column was lost is not determined")
            else:
                self.fields[key] = FieldValue(forced, None, natural.where, inferred=True,
                                              note=f"row printed 6 numbers ({row_text}); forced by 总计 − 自然人")
        if forced is None:
            self.warnings.append(f"{prefix}: 6 numbers for 7 columns; legal-person columns left null")

    def appeal_cells(self, values: list[Cell], table: Table) -> list[Cell]:
        if table.exact_columns:
            return values
        return [c for c in align(values, len(values), False, self.kinds).cells if c is not None]

    def appeals(self, cells: list[Cell]) -> None:
        for key, cell in zip(APPEAL_KEYS, cells, strict=True):
            self.put(key, cell)
        self.found_appeals = True

    # ------------------------------------------------------------------ after the tables

    def sum_other_subrows(self) -> None:
        """2021 reports: requests.other.* is the sum of the three （六） rows, unless printed as one row."""
        if self.template != "2021" or "other" in self.found_requests:
            return
        if not any(sub in self.found_requests for sub in REQUEST_OTHER_SUBROWS):
            return
        for col in REQUEST_COLUMNS:
            parts = [self.fields.get(f"requests.{sub}.{col.key}") for sub in REQUEST_OTHER_SUBROWS]
            numbers = [p.value for p in parts if p is not None and p.value is not None]
            key = f"requests.other.{col.key}"
            if numbers:
                self.fields[key] = FieldValue(sum(numbers), None, None, inferred=True,
                                              note="sum of the three （六） rows")
            else:
                self.fields[key] = FieldValue(None, None, None, note="the three （六） rows are blank")

    def missing_tables(self) -> tuple[list[str], list[str]]:
        missing, missing_rows = [], []
        if not self.found_active:
            missing.append("二")
        if not self.found_requests:
            missing.append("三")
        else:
            printed_other = self.found_requests & {"other", *REQUEST_OTHER_SUBROWS}
            absent = [
                r.key for r in request_rows(self.template)
                if r.key not in self.found_requests
                and not (r.key == "other" and printed_other)  # 2021: （六） as three rows or as one
                and not (r.key in REQUEST_OTHER_SUBROWS and (printed_other or self.template == "2021"))
            ]
            missing_rows.extend(f"requests.{key}" for key in absent)
        if not self.found_appeals:
            missing.append("四")
        return missing, missing_rows


# ---------------------------------------------------------------------- text: sections, title, year


def _split_group_prefix(text: str, group: str | None) -> tuple[str | None, str]:
    """A label that merged its group and its own row into one cell ("(六)其他处理 1.申请人…") → both."""
    own = leaf(text)
    for candidate in REQUEST_GROUPS:
        for form in candidate.label.all_forms:
            prefix = leaf(form)
            rest = own[len(prefix):]
            if own.startswith(prefix) and len(rest) >= 2:
                return candidate.key, rest
    return group, text


@cache
def _active_rows(template: str) -> tuple[tuple[str, Label], ...]:
    return tuple((row.key, row.label) for table in active_tables(template) for row in table.rows)


@cache
def _request_rows(template: str, *, without: str | None = None) -> tuple[tuple[str, Label], ...]:
    return tuple((row.key, row.label) for row in request_rows(template) if row.key != without)


@cache
def _request_rows_in(template: str, group: str) -> tuple[tuple[str, Label], ...]:
    return tuple((row.key, row.label) for row in request_rows(template) if row.group == group)


# Each label is matched once per distinct text: the same labels recur in every row and every report.


@memoized
def _names_a_row(text: str, template: str) -> bool:
    """Whether a label names a row of the template outright (exactly or by prefix), not by a keyword only."""
    return any(match_score(text, label) >= PREFIX for _, label in (*_active_rows(template), *_request_rows(template)))


@memoized
def _active_row_named(text: str, template: str) -> str | None:
    return best_match(text, _active_rows(template))


@memoized
def _group_named(text: str) -> str | None:
    return best_match(text, _GROUPS)


def _request_row_key(labels: list[Cell], group: str | None, template: str) -> tuple[str | None, str | None]:
    """Which section-三 row a row's labels name, and the group it sits under."""
    for cell in labels[:-1]:
        named = _group_named(cell.text)
        if named is not None:
            group = named
    return _request_row_named(labels[-1].text, group, template)


@memoized
def _request_row_named(text: str, group: str | None, template: str) -> tuple[str | None, str | None]:
    """The section-三 row a row's last label names, given the group the rows above opened; and the group
    the rows below sit under."""
    if match_score(text, REQUEST_GROUPS[-1].label) == EXACT:
        return "other", "other"  # （六）其他处理 printed as one row (2019, or a 2021 report printing it so)
    group, leaf_text = _split_group_prefix(text, group)
    key = best_match(leaf_text, _request_rows_in(template, group)) if group else None
    if key is None:
        key = best_match(leaf_text, _request_rows(template, without="other_misc"))
    if key is None:
        return group, None
    row_group = next(r.group for r in request_rows(template) if r.key == key)
    return (None if row_group in (None, "results") else row_group), key


@memoized
def _cell_votes(text: str) -> tuple[int, ...]:
    """A table cell's vote for each template (TEMPLATE_SIGNATURE_COLUMNS order): its label starts a signature
    column label of the template, or is the start of one (a truncated header)."""
    label = leaf(text)
    if len(label) < 3:
        return (0,) * len(TEMPLATE_SIGNATURE_COLUMNS)
    return tuple(int(any(label.startswith(s) or s.startswith(label) for s in signatures))
                 for signatures in TEMPLATE_SIGNATURE_COLUMNS.values())


@memoized
def _line_votes(text: str) -> tuple[int, ...]:
    """A line's votes for each template: the signature column labels it holds (a header row flattened into prose)."""
    line = normalize(text)
    return tuple(sum(s in line for s in signatures) for signatures in TEMPLATE_SIGNATURE_COLUMNS.values())


def _region_of(regions: set[str | None], current: str | None) -> str | None:
    """The table region a header row or line opens (`regions`: what each of its cells or the line opens):
    section 二's captions, 三's header, 四's header."""
    if "active" in regions:
        return "active"
    if "appeals" in regions and current != "appeals":
        return "appeals"
    if "requests" in regions:
        return "requests"
    return None


@memoized
def _heading(text: str) -> int | None:
    """The index of the section a paragraph opens (into SECTIONS), if it is a section heading."""
    match = _HEADING.match(normalize(text))
    if not match:
        return None
    numeral, rest = match.groups()
    index = _NUMERALS.index(numeral)
    section = SECTIONS[index]
    is_title = len(rest) <= 40 and match_score(rest, section.label) > 0
    runs_on = any(rest.startswith(leaf(form)) for form in section.label.all_forms)
    return index if is_title or runs_on else None


def _sections(grid: Grid) -> tuple[list[str], dict[str, str], list[str], dict[str, int]]:
    """Section numerals present, prose per section, leading paragraphs, images per section."""
    present: list[str] = []
    prose: dict[str, list[str]] = {}
    leading: list[str] = []
    images: dict[str, int] = {}
    current = "intro"
    for block in grid.blocks:
        if isinstance(block, Table):
            if current == "intro" and not present:
                current = "tables"
            continue
        after = _NUMERALS.index(present[-1]) if present else -1
        index = _heading(block.text)
        numeral = _NUMERALS[index] if index is not None and index > after else None  # headings come in order
        if numeral:
            present.append(numeral)
            current = numeral
            continue
        if current == "intro" and block.text:
            leading.append(block.text)
        images[current] = images.get(current, 0) + block.images
        if block.text:
            prose.setdefault(current, []).append(block.text.strip())
    return present, {k: "\n".join(v) for k, v in prose.items()}, leading, images


def _clean_title(text: str) -> str:
    return re.sub(r"\[bookmark:[^\]]*\]|^#+\s*", "", text).strip().strip("　 ")


def _title(grid: Grid, leading: list[str]) -> str | None:
    def is_title(text: str) -> bool:
        norm = normalize(text)
        return "报告" in norm and ("公开" in norm or "年报" in norm) and len(norm) <= 80

    for candidate in grid.title_candidates:
        if is_title(candidate):
            return _clean_title(candidate)
    joined = ""
    for paragraph in leading[:4]:
        text = _clean_title(paragraph)
        if len(normalize(text)) > 60:
            break
        joined += text
        if is_title(joined):
            return joined
    return None


def _unit(title: str | None, publisher: str | None) -> str | None:
    if title:
        norm = _UNIT_SUFFIX_NOISE.sub("", normalize(title))
        match = _YEAR_IN_TITLE.search(norm)
        prefix = norm[: match.start()] if match else re.split(r"政府信息公开|信息公开|政务公开", norm)[0]
        prefix = prefix.strip("：:-_ ")
        if len(prefix) >= 2:
            return prefix
    return publisher


def _year(title: str | None, text: str, url: str | None, published_on: str | None) -> int | None:
    if title:
        match = _YEAR_IN_TITLE.search(normalize(title))
        if match:
            return int(match.group(1))
    norm = normalize(text)
    for pattern in (_PERIOD, _PERIOD_END):
        match = pattern.search(norm)
        if match:
            return int(match.group(1))
    if url:
        match = _URL_YEAR.search(url)
        if match:
            return int(match.group(1))
    if published_on:
        return int(published_on[:4]) - 1
    return None


def build_report(grid: Grid, *, url: str | None = None, source: str | None = None, deadline: Deadline | None = None) -> Report:
    present, prose, leading, images = _sections(grid)
    title = _title(grid, leading)
    all_text = "\n".join(b.text for b in grid.blocks if isinstance(b, Paragraph))
    deadline = deadline or Deadline()
    builder = _Builder(grid)
    builder.template = builder.detect_template(deadline)
    report = Report(
        unit=_unit(title, grid.publisher),
        year=_year(title, all_text, url or grid.source_url, grid.published_on),
        template=builder.template,
        title=title,
        source_url=url or grid.source_url,
        published_on=grid.published_on,
        sections=present,
        narrative=prose,
        source=source,
    )
    if builder.template is None:
        report.missing_tables = ["二", "三", "四"]
    else:
        builder.read_tables(deadline)
        builder.sum_other_subrows()
        report.missing_tables, report.missing_rows = builder.missing_tables()
        for key in template_keys(builder.template):
            builder.fields.setdefault(key, FieldValue(None, None, None, note="not printed"))
        report.fields = {key: builder.fields[key] for key in template_keys(builder.template)}
        report.warnings = builder.warnings
    report.image_only_sections = [
        numeral for numeral in report.missing_tables if images.get(numeral, 0) > 0
    ]
    return report


def is_report_like(report: Report) -> bool:
    """A page worth keeping as a report: it has the tables, or at least reads as one."""
    has_tables = report.template is not None and len(report.missing_tables) < 3
    has_shape = report.title is not None and len(report.sections) >= 3
    return has_tables or has_shape

