"""The codebook: every column an export can hold, generated from the export's column declaration (itself read off
the schema declaration), as Markdown for people and CSV for programs. Every export writes it beside itself.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from exports.columns import COLUMNS, PANDAS_DTYPES, Column
from extract.schema import AMOUNT, AMOUNT_WAN, COUNT, FIELDS_BY_KEY, SECTIONS, SIGNED_COUNT, TEMPLATE_NAMES

CSV_HEADER = ("key", "label_zh", "section", "templates", "type", "unit", "shapes", "description")
FORMATS = ("md", "csv")

_VALUE_NOTES = {
    COUNT: "a count, ≥ 0",
    SIGNED_COUNT: "a change in a count (本年增/减): may be negative",
    AMOUNT_WAN: "money in 万元 (amounts printed in 元 are converted)",
    AMOUNT: "money in the unit the report prints (the long file's note names it)",
}
_SECTION_TITLES = {s.numeral: s.label.canonical for s in SECTIONS}


def description(column: Column) -> str:
    """A field's value note and its own description; any other column's description."""
    if not column.is_field:
        return column.description
    note = _VALUE_NOTES[FIELDS_BY_KEY[column.name].value_type]
    return f"{note}; {column.description}" if column.description else note


def rows() -> list[dict[str, str]]:
    return [
        {
            "key": c.name,
            "label_zh": c.label_zh,
            "section": c.section,
            "templates": " ".join(c.templates),
            "type": c.kind,
            "unit": c.unit,
            "shapes": " ".join(c.shapes),
            "description": description(c),
        }
        for c in COLUMNS
    ]


def render_csv() -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows())
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    templates = "; ".join(f"`{key}` = {name}" for key, name in TEMPLATE_NAMES.items())
    types = ", ".join(f"`{kind}` ({dtype} in pandas)" for kind, dtype in PANDAS_DTYPES.items())
    lines = [
        "# Codebook 字段说明 — nianbao 年报 exports",
        "",
        "Each export holds the current version of every report chosen. The **wide** file has one row per report:",
        "the unit and report columns, then one column per schema key (null where the report's template has no",
        "such key). The **long** file has one row per field a report holds, with its raw text and provenance.",
        "",
        f"Templates: {templates}. Types: {types}.",
        "A blank, dash or 无 in a report is null, never 0. CSV has no null: an empty cell is null, so an empty",
        "raw text reads back as null. In CSV and XLSX, text beginning with = + - @, a tab or a carriage return",
        "carries a leading ' so that spreadsheets show it as text instead of running it; numbers are untouched.",
        "",
        "## Report and unit 年报与单位",
        "",
        "| key | 中文 label | type | file | description |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{c.name}` | {_cell(c.label_zh)} | {c.kind} | {' '.join(c.shapes)} | {_cell(description(c))} |"
        for c in COLUMNS
        if not c.is_field
    ]
    for numeral, title in _SECTION_TITLES.items():
        fields = [c for c in COLUMNS if c.is_field and c.section == numeral]
        if not fields:
            continue
        lines += [
            "",
            f"## {numeral}、{title}",
            "",
            "| key | 中文 label | templates | type | unit | description |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{c.name}` | {_cell(c.label_zh)} | {' '.join(c.templates)} | {c.kind} | {c.unit} | {_cell(description(c))} |"
            for c in fields
        ]
    return "\n".join(lines) + "\n"


def render(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"codebook format {fmt!r} is not one of {', '.join(FORMATS)}")
    return render_markdown() if fmt == "md" else render_csv()


def codebook_paths(export: Path) -> dict[str, Path]:
    """Where the codebook of an export goes: beside it, named after it."""
    return {fmt: export.with_name(f"{export.stem}.codebook.{fmt}") for fmt in FORMATS}


def write_beside(export: Path, *, bom: bool = False) -> list[Path]:
    """Write the codebook beside `export` (with a BOM on the CSV when the export has one)."""
    written = []
    for fmt, path in codebook_paths(export).items():
        path.write_text(render(fmt), encoding="utf-8-sig" if bom and fmt == "csv" else "utf-8")
        written.append(path)
    return written
