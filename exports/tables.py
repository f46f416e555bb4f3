"""The research tables: the current version of every report as one row (wide) or as one row per field (long),
as pandas frames typed by the column declaration (exports/columns.py). Values keep their types — counts are
nullable integers, money nullable decimals — and a null stays null, never a guessed 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pandas as pd

from exports.columns import DECIMAL, INTEGER, KINDS, LONG, PANDAS_DTYPES, SHAPES, WIDE, ExportError, columns
from extract.model import Report
from extract.schema import FIELDS_BY_KEY
from registry.units import LEVELS, Unit
from storage import ReportVersionInfo, Store

BATCH = 500  # reports per frame: bounds memory on large exports and paces the progress bar


def empty_frame(shape: str) -> pd.DataFrame:
    return typed_frame({c.name: [] for c in columns(shape)}, shape)


def typed_frame(values: dict[str, list], shape: str) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.array(values[c.name], dtype=PANDAS_DTYPES[c.kind]) for c in columns(shape)})


# ---------------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Chosen:
    """A report picked for export: its unit and the version to export."""

    unit: Unit
    info: ReportVersionInfo

    def describe(self) -> str:
        return f"report {self.info.report_id} ({self.unit.unit_id} {self.info.year})"


def choose(store: Store, *, year: int | None = None, level: str | None = None) -> list[Chosen]:
    """The current version of every report, of one year and one unit level if given, by unit and year."""
    if level is not None and level not in LEVELS:
        raise ExportError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    units = {u.unit_id: u for u in store.units()}
    chosen = [Chosen(units[info.unit_id], info) for info in store.latest_reports(year)]
    return [c for c in chosen if level is None or c.unit.level == level]


def frames(
    store: Store, chosen: Sequence[Chosen], shape: str, *, batch: int = BATCH, on_batch: Callable[[int], None] | None = None
) -> Iterator[pd.DataFrame]:
    """The export as typed frames of `batch` reports each (one empty frame when nothing is chosen);
    `on_batch(n)` hears of each batch of n reports once it has been written."""
    if shape not in SHAPES:
        raise ExportError(f"shape {shape!r} is not one of {', '.join(SHAPES)}")
    build = wide_frame if shape == WIDE else long_frame
    if not chosen:
        yield empty_frame(shape)
    for start in range(0, len(chosen), batch):
        part = chosen[start : start + batch]
        # The listed version, not "current": a crawl may have added a newer one since the list was made.
        yield build([(c, store.load_report(c.info.report_id, c.info.version)) for c in part])
        if on_batch is not None:
            on_batch(len(part))


# ---------------------------------------------------------------------------------------------- frames


def _typed_value(chosen: Chosen, key: str, value: int | float | None) -> int | float | None:
    """The value as its column's type; a value the type cannot hold exactly is an error, never rounded."""
    field = FIELDS_BY_KEY.get(key)
    if field is None:
        raise ExportError(f"{chosen.describe()}: key {key!r} is not in the schema, so no column can hold it")
    if value is None:
        return None
    if KINDS[field.value_type] == DECIMAL:
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ExportError(f"{chosen.describe()}: {key} = {value!r} is not a whole number, but the field is a count")
        return int(value)
    return value


def _identity(chosen: Chosen) -> dict[str, object]:
    return {
        "report_id": chosen.info.report_id,
        "version": chosen.info.version,
        "unit_id": chosen.unit.unit_id,
        "unit_name": chosen.unit.name,
        "year": chosen.info.year,
    }


def wide_frame(reports: Sequence[tuple[Chosen, Report]]) -> pd.DataFrame:
    """One row per report: the unit, the report's metadata, then every schema key (null where the report's
    template has no such key)."""
    values: dict[str, list] = {c.name: [] for c in columns(WIDE)}
    for chosen, report in reports:
        fields = {key: _typed_value(chosen, key, fv.value) for key, fv in report.fields.items()}
        unit = chosen.unit
        row = {
            **_identity(chosen),
            "division_code": unit.division_code,
            "level": unit.level,
            "province": unit.province,
            "parent_county": unit.parent_county,
            "unit": report.unit,
            "template": report.template,
            "title": report.title,
            "source_url": report.source_url,
            "published_on": report.published_on,
            "sections": " ".join(report.sections),
        }
        for name, column in values.items():
            column.append(fields.get(name) if name in FIELDS_BY_KEY else row[name])
    return typed_frame(values, WIDE)


def long_frame(reports: Sequence[tuple[Chosen, Report]]) -> pd.DataFrame:
    """One row per stored field of each report, in the order the report's tables print them."""
    values: dict[str, list] = {c.name: [] for c in columns(LONG)}
    for chosen, report in reports:
        identity = _identity(chosen)
        for key, fv in report.fields.items():
            value = _typed_value(chosen, key, fv.value)
            is_count = KINDS[FIELDS_BY_KEY[key].value_type] == INTEGER
            row = {
                **identity,
                "key": key,
                "count": value if is_count else None,
                "amount": None if is_count else value,
                "raw": fv.raw,
                "inferred": fv.inferred,
                "provenance": fv.where,
                "note": fv.note,
            }
            for name, column in values.items():
                column.append(row[name])
    return typed_frame(values, LONG)
