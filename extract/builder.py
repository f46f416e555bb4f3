"""Grid → Report: sections, template, unit and year, and every table cell mapped to its schema key.

Tables are read as one stream of rows, whatever container they came in (one table per block, one
table for all of section 二, text rows): a row is a label followed by value cells, and the label
says which key the values belong to. Where a row's values sit is taken from the row itself, not
from column positions, because flattened merged cells shift positions (report_format.md §5.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from extract.labels import EXACT, PREFIX, best_match, leaf, match_score, normalize, table_region
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


@dataclass
class _Row:
    cells: list[Cell]

    @property
    def distinct(self) -> list[Cell]:
        """The row's cells, each merged (colspan) cell once; rowspan copies stay as label context."""
        out: list[Cell] = []
        for cell in self.cells:
            if cell.span_of is not None and cell.span_of[0] == cell.row:
                continue
            out.append(cell)
        return out

    def split(self) -> tuple[list[Cell], list[Cell]]:
        """(label cells, value cells): values are what follows the last non-empty, non-numeric cell."""
        cells = self.distinct
        last_label = -1
        for i, cell in enumerate(cells):
            if clean_cell_text(cell.text) and not looks_numeric(cell.text):
                last_label = i
        return cells[: last_label + 1], cells[last_label + 1 :]

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.distinct]


@dataclass
class _Values:
    """Value cells aligned onto the columns a row expects."""

    cells: list[Cell | None]
    short_by_one: bool = False  # a 7-column row printed with 6 numbers
    unplaced: bool = False  # a flattened row with too few values to know which columns they belong to


def align(values: list[Cell], expected: int, exact: bool) -> _Values:
    """Fit a row's value cells onto `expected` columns.

    Exact grids (HTML, one cell per line) keep blank cells, which are real; flattened rows (tabs,
    pipes) lose and add empty cells at their edges when labels were merged, so those go first.
    """
    cells = list(values)
    if not exact:
        while cells and not clean_cell_text(cells[-1].text):
            cells.pop()
        while cells and not clean_cell_text(cells[0].text):
            cells.pop(0)
    while len(cells) > expected and not clean_cell_text(cells[-1].text):
        cells.pop()
    while len(cells) > expected and not clean_cell_text(cells[0].text):
        cells.pop(0)
    if len(cells) > expected:
        cells = cells[-expected:]
    if len(cells) == expected - 1 and expected == len(REQUEST_COLUMNS) and all(clean_cell_text(c.text) for c in cells):
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

    # ------------------------------------------------------------------ tables

    def rows(self) -> Iterator[tuple[Table, _Row]]:
        for table in self.grid.tables:
            for cells in table.rows:
                yield table, _Row(cells)

    def detect_template(self) -> str | None:
        votes = {template: 0 for template in TEMPLATE_SIGNATURE_COLUMNS}
        texts = [c.text for table in self.grid.tables for row in table.rows for c in row if c.span_of is None]
        lines = [normalize(b.text) for b in self.grid.blocks if isinstance(b, Paragraph) and len(b.text) < 80]
        for text in texts:
            label = leaf(text)
            if len(label) < 3:
                continue
            for template, signatures in TEMPLATE_SIGNATURE_COLUMNS.items():
                if any(label.startswith(s) or (s.startswith(label) and len(label) >= 3) for s in signatures):
                    votes[template] += 1
        for line in lines:  # header rows flattened into one line of prose
            for template, signatures in TEMPLATE_SIGNATURE_COLUMNS.items():
                votes[template] += sum(s in line for s in signatures)
        if votes["2021"] != votes["2019"]:
            return max(votes, key=lambda t: votes[t])
        # No section-二 labels: the 2021 split of （六）其他处理 into three rows still tells.
        subrow_labels = [r.label for r in request_rows("2021") if r.key in REQUEST_OTHER_SUBROWS[:2]]
        if any(match_score(t, label) >= PREFIX for t in texts for label in subrow_labels):
            return "2021"
        return None

    def read_tables(self) -> None:
        region: str | None = None
        group: str | None = None
        appeal_values: list[Cell] = []
        active_rows = [(row.key, row.label) for table in active_tables(self.template) for row in table.rows]
        requests = request_rows(self.template)
        request_labels = [(row.key, row.label) for row in requests]
        for block in self.grid.blocks:
            if isinstance(block, Paragraph):
                # Flattened tables keep their header lines as prose: they still say where we are.
                region = _region_of([block.text], region) or region
                if region == "appeals" and len(appeal_values) >= len(APPEAL_KEYS):
                    region = None
                if _region_of([block.text], None) == "appeals":
                    appeal_values = []
                continue
            for cells in block.rows:
                row = _Row(cells)
                texts = row.texts
                switched = _region_of(texts, region)
                if switched:
                    if switched == "appeals" and region != "appeals":
                        appeal_values = []
                    region = switched
                    continue
                labels, values = row.split()
                if not values or (not labels and region != "appeals"):
                    continue
                leaf_cell = labels[-1] if labels else None
                # A row with nothing but blanks after its label must name a row outright; a keyword is
                # not enough (header rows such as "信息内容 | 本年收费金额" end in padding cells).
                blank_row = not any(clean_cell_text(c.text) for c in values)
                if blank_row and leaf_cell is not None and not any(
                    match_score(leaf_cell.text, label) >= PREFIX for _, label in [*active_rows, *request_labels]
                ):
                    continue
                if region in (None, "active") and leaf_cell is not None:
                    key = best_match(leaf_cell.text, active_rows)
                    if key is not None:
                        region = "active"
                        self.active_row(key, values, block)
                        continue
                if region in (None, "active", "requests") and leaf_cell is not None:
                    group, key = self.request_row_key(labels, group, requests)
                    if key is not None:
                        region = "requests"
                        self.request_row(key, leaf_cell, values, block)
                        continue
                if region == "appeals" and len(appeal_values) < len(APPEAL_KEYS) and any(
                    clean_cell_text(c.text) for c in values
                ):  # a header row padded with empty cells holds no values
                    appeal_values.extend(self.appeal_cells(values, block))
                    if len(appeal_values) >= len(APPEAL_KEYS):
                        self.appeals(appeal_values[: len(APPEAL_KEYS)])

    def request_row_key(
        self, labels: list[Cell], group: str | None, rows: tuple
    ) -> tuple[str | None, str | None]:
        """Which section-三 row a row's labels name, and the group it sits under."""
        groups = [(g.key, g.label) for g in REQUEST_GROUPS]
        leaf_text = labels[-1].text
        for cell in labels[:-1]:
            named = best_match(cell.text, groups)
            if named is not None:
                group = named
        if match_score(leaf_text, REQUEST_GROUPS[-1].label) == EXACT:
            return "other", "other"  # （六）其他处理 printed as one row (2019, or a 2021 report printing it so)
        group, leaf_text = _split_group_prefix(leaf_text, group)
        in_group = [(r.key, r.label) for r in rows if r.group == group] if group else []
        key = best_match(leaf_text, in_group) if in_group else None
        if key is None:
            key = best_match(leaf_text, [(r.key, r.label) for r in rows if r.key != "other_misc"])
        if key is None:
            return group, None
        row_group = next(r.group for r in rows if r.key == key)
        group = None if row_group in (None, "results") else row_group
        return group, key

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
        aligned = align(values, len(spec.columns), table.exact_columns)
        self.unplaced(f"active.{row_key}", values, aligned)
        for col, cell in zip(spec.columns, aligned.cells, strict=True):
            self.put(f"active.{row_key}.{col.key}", cell)
        self.found_active = True

    def unplaced(self, prefix: str, values: list[Cell], aligned: _Values) -> None:
        if aligned.unplaced:
            printed = " ".join(c.text.strip() for c in values if clean_cell_text(c.text))
            self.warnings.append(f"{prefix}: values {printed} cannot be placed in their columns; left null")

    def request_row(self, row_key: str, label: Cell, values: list[Cell], table: Table) -> None:
        aligned = align(values, len(REQUEST_COLUMNS), table.exact_columns)
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
        if aligned.short_by_one or cells[-1] is None or clean_cell_text(cells[-1].text):
            return False
        if not all(c is not None and clean_cell_text(c.text) for c in cells[:-1]):
            return False
        if table.index not in self.full_request_rows:
            self.full_request_rows[table.index] = any(
                len(vals) >= 7 and all(clean_cell_text(c.text) and looks_numeric(c.text) for c in vals[-7:])
                for vals in (_Row(r).split()[1] for r in table.rows)
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
        return [c for c in align(values, len(values), exact=False).cells if c is not None]

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


def _region_of(texts: list[str], current: str | None) -> str | None:
    """The table region a header row or line opens: section 二's captions, 三's header, 四's header."""
    regions = {table_region(t) for t in texts}
    if "active" in regions:
        return "active"
    if "appeals" in regions and current != "appeals":
        return "appeals"
    if "requests" in regions:
        return "requests"
    return None


def _heading(text: str, after: int) -> str | None:
    """The section numeral a paragraph opens, if it is a section heading after section `after`."""
    norm = normalize(text)
    match = _HEADING.match(norm)
    if not match:
        return None
    numeral, rest = match.groups()
    index = _NUMERALS.index(numeral)
    if index <= after:
        return None
    section = SECTIONS[index]
    is_title = len(rest) <= 40 and match_score(rest, section.label) > 0
    runs_on = any(rest.startswith(leaf(form)) for form in section.label.all_forms)
    return numeral if is_title or runs_on else None


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
        numeral = _heading(block.text, after)
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


def build_report(grid: Grid, *, url: str | None = None, source: str | None = None) -> Report:
    present, prose, leading, images = _sections(grid)
    title = _title(grid, leading)
    all_text = "\n".join(b.text for b in grid.blocks if isinstance(b, Paragraph))
    builder = _Builder(grid)
    builder.template = builder.detect_template()
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
        builder.read_tables()
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

