"""The columns of the research exports, declared once and read off the schema declaration (extract/schema.py):
the frames, every file format, the codebook and Datasette's labels all use COLUMNS.
"""

from __future__ import annotations

from dataclasses import dataclass

from extract.schema import AMOUNT, AMOUNT_WAN, COUNT, FIELDS, FIELDS_BY_KEY, METADATA_KEYS, SIGNED_COUNT
from registry.units import LEVELS

WIDE = "wide"
LONG = "long"
SHAPES = (WIDE, LONG)

# Column types, as the codebook names them.
INTEGER = "integer"
DECIMAL = "decimal"
TEXT = "text"
BOOLEAN = "boolean"
PANDAS_DTYPES = {INTEGER: "Int64", DECIMAL: "Float64", TEXT: "string", BOOLEAN: "boolean"}  # how pandas holds each
KINDS = {COUNT: INTEGER, SIGNED_COUNT: INTEGER, AMOUNT_WAN: DECIMAL, AMOUNT: DECIMAL}


class ExportError(Exception):
    """An export that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Column:
    """One column of an export (and one row of the codebook)."""

    name: str
    label_zh: str
    kind: str
    description: str
    shapes: tuple[str, ...] = SHAPES
    section: str = ""  # the report section 二 三 四 a field key belongs to
    templates: tuple[str, ...] = ()
    unit: str = ""

    @property
    def is_field(self) -> bool:
        return self.name in FIELDS_BY_KEY


_METADATA = {key: (label, description) for key, label, description in METADATA_KEYS}


def _metadata(key: str, kind: str = TEXT, shapes: tuple[str, ...] = (WIDE,)) -> Column:
    label, description = _METADATA[key]
    return Column(key, label, kind, description, shapes)


# The order of the wide file; the long file keeps the same order for the columns it has.
COLUMNS: tuple[Column, ...] = (
    Column("report_id", "年报编号", INTEGER, "the report's id in the database; joins the wide and long files"),
    Column("version", "版本", INTEGER, "the version exported: the report's current one (earlier versions stay in the database)"),
    Column("unit_id", "单位编号", TEXT, "the registry's unit id: the division code, or the county's code plus a department slug"),
    Column("unit_name", "单位名称", TEXT, "the unit's name in the registry"),
    Column("division_code", "行政区划代码", TEXT, "12-digit administrative division code (text: keep it unconverted)", (WIDE,)),
    Column("level", "层级", TEXT, "; ".join(f"{key} = {label}" for key, label in LEVELS.items()), (WIDE,)),
    Column("province", "省份", TEXT, "the unit's province", (WIDE,)),
    Column("parent_county", "所属县（区）", TEXT, "the county (district) the unit belongs to", (WIDE,)),
    _metadata("unit"),
    _metadata("year", INTEGER, SHAPES),
    _metadata("template"),
    _metadata("title"),
    _metadata("source_url"),
    _metadata("published_on"),
    _metadata("sections"),
    Column("key", "字段", TEXT, "the field's key, as in the codebook and the wide file's column names", (LONG,)),
    Column("count", "数量", INTEGER, "the value of a count field (件); null for money fields and for blank cells", (LONG,)),
    Column("amount", "金额", DECIMAL, "the value of a money field; null for count fields and for blank cells", (LONG,)),
    Column("raw", "原文", TEXT, "the cell's text as printed", (LONG,)),
    Column("inferred", "推算", BOOLEAN, "true when the value was inferred, not printed (see note)", (LONG,)),
    Column("provenance", "出处", TEXT, "where the value was read: table, row, column (and line)", (LONG,)),
    Column("note", "说明", TEXT, "why a value is null or was inferred, or the unit it was printed in", (LONG,)),
    *(Column(f.key, f.label_zh, KINDS[f.value_type], f.description, (WIDE,), f.section, f.templates, f.unit) for f in FIELDS),
)
COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}


def columns(shape: str) -> tuple[Column, ...]:
    if shape not in SHAPES:
        raise ExportError(f"shape {shape!r} is not one of {', '.join(SHAPES)}")
    return tuple(c for c in COLUMNS if shape in c.shapes)
