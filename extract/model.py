"""The data that flows through extraction: a document becomes a grid of blocks, a grid becomes a Report.

Every reader (HTML, text, PDF, DOCX, spreadsheets, OCR) produces the same `Grid`, so one report
builder serves them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extract.schema import template_keys


@dataclass(slots=True)  # not frozen: a page has hundreds of cells, and a frozen dataclass's __init__ costs 6× more
class Cell:
    """One table cell as printed: its text and where it sits. Readers make cells; nothing changes them.

    `row`/`col` are the cell's position in its table after rowspan/colspan expansion; `span_of`
    points at the cell that really holds the text when this position is covered by a merged cell.
    """

    text: str
    table: int
    row: int
    col: int
    span_of: tuple[int, int] | None = None
    line: int | None = None  # source line for text documents
    confidence: float | None = None  # OCR confidence in [0, 1]; None when the text was not recognised

    @property
    def where(self) -> str:
        place = f"table {self.table} row {self.row} col {self.col}"
        return f"{place} (line {self.line})" if self.line is not None else place


@dataclass
class Table:
    """Rows of cells. `exact_columns` is False when the source flattened merged cells into a varying
    number of empty cells (tab-separated text), so empty cells at a row's edges carry no meaning."""

    index: int
    rows: list[list[Cell]]
    exact_columns: bool = True


@dataclass(slots=True)  # like Cell: made by readers, never changed
class Paragraph:
    text: str
    line: int | None = None
    images: int = 0  # images inside this block (a report pasted as pictures)


Block = Paragraph | Table


@dataclass
class Grid:
    """A document read into blocks in reading order, with what the container said about itself."""

    blocks: list[Block]
    title_candidates: list[str] = field(default_factory=list)
    published_on: str | None = None
    publisher: str | None = None
    source_url: str | None = None
    images: int = 0

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]


@dataclass(slots=True)
class FieldValue:
    value: int | float | None
    raw: str | None = None
    where: str | None = None
    inferred: bool = False
    note: str | None = None  # why a value is null or was inferred, or the unit it was printed in


@dataclass
class Report:
    """One annual report in the common schema, with the provenance of every value."""

    unit: str | None
    year: int | None
    template: str | None
    title: str | None
    source_url: str | None = None
    published_on: str | None = None
    sections: list[str] = field(default_factory=list)
    fields: dict[str, FieldValue] = field(default_factory=dict)
    narrative: dict[str, str] = field(default_factory=dict)  # section numeral → its prose
    image_only_sections: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)  # of 二 三 四
    missing_rows: list[str] = field(default_factory=list)  # rows of a table that is there but cut short
    warnings: list[str] = field(default_factory=list)
    source: str | None = None  # file name or document sha256 the report was read from

    def value(self, key: str) -> int | float | None:
        fv = self.fields.get(key)
        return fv.value if fv else None

    @property
    def values(self) -> dict[str, int | float | None]:
        return {key: self.value(key) for key in self.keys}

    @property
    def keys(self) -> tuple[str, ...]:
        return template_keys(self.template) if self.template else ()

    @property
    def inferred(self) -> list[str]:
        return [k for k in self.keys if k in self.fields and self.fields[k].inferred]

    @property
    def is_complete(self) -> bool:
        return self.template is not None and not self.missing_tables and not self.missing_rows

    def to_json(self) -> dict[str, Any]:
        """The `nianbao extract --json` object (schema.md): every key of the template, nothing else."""
        return {
            "unit": self.unit,
            "year": self.year,
            "template": self.template,
            "title": self.title,
            "source_url": self.source_url,
            "published_on": self.published_on,
            "sections": self.sections,
            "fields": self.values,
            "raw": {k: self.fields[k].raw for k in self.keys if k in self.fields},
            "inferred": self.inferred,
            "provenance": {k: self.fields[k].where for k in self.keys if k in self.fields and self.fields[k].where},
            "notes": {k: self.fields[k].note for k in self.keys if k in self.fields and self.fields[k].note},
            "missing_tables": self.missing_tables,
            "missing_rows": self.missing_rows,
            "image_only_sections": self.image_only_sections,
            "narrative": self.narrative,
            "warnings": self.warnings,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        raw = data.get("raw", {})
        where = data.get("provenance", {})
        notes = data.get("notes", {})
        inferred = set(data.get("inferred", []))
        return cls(
            unit=data.get("unit"),
            year=data.get("year"),
            template=data.get("template"),
            title=data.get("title"),
            source_url=data.get("source_url"),
            published_on=data.get("published_on"),
            sections=list(data.get("sections", [])),
            fields={
                k: FieldValue(v, raw.get(k), where.get(k), k in inferred, notes.get(k))
                for k, v in data.get("fields", {}).items()
            },
            narrative=dict(data.get("narrative", {})),
            image_only_sections=list(data.get("image_only_sections", [])),
            missing_tables=list(data.get("missing_tables", [])),
            missing_rows=list(data.get("missing_rows", [])),
            warnings=list(data.get("warnings", [])),
            source=data.get("source"),
        )


class ExtractionError(Exception):
    """The document is not an annual report, or cannot be read; the message says why in one line."""


class UnreadableDocument(ExtractionError):
    """The document may well be a report but cannot be read: damaged, encrypted, or beyond a limit. Unlike a
    document that is not a report, this is a failure a crawl records."""
