"""Export files: the typed frames of exports/tables.py written as CSV, JSON Lines, Parquet or XLSX, batch by batch.

A file is written under a temporary name and moved into place only when complete, so a failed export leaves
no half file and an earlier export at the same path intact. CSV and XLSX neutralise formula-like text
(exports/spreadsheet.py); JSON Lines and Parquet keep text exactly as stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook

from exports import codebook
from exports.columns import TEXT, ExportError, columns
from exports.spreadsheet import spreadsheet_safe, xlsx_text
from exports.tables import choose, empty_frame, frames
from storage import Store

FORMATS = ("csv", "jsonl", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_576  # a worksheet's limit, the header row included


@dataclass(frozen=True)
class ExportResult:
    path: Path
    codebook: list[Path]
    reports: int
    rows: int


def _arrow_schema(shape: str) -> pa.Schema:
    # From the typed empty frame, so the file carries pandas' metadata: pandas reads Int64/Float64 back, not float64.
    return pa.Schema.from_pandas(empty_frame(shape), preserve_index=False)


def _text_columns(shape: str) -> list[str]:
    return [c.name for c in columns(shape) if c.kind == TEXT]


def _neutralised(frame: pd.DataFrame, shape: str) -> pd.DataFrame:
    frame = frame.copy()
    for name in _text_columns(shape):
        frame[name] = frame[name].map(spreadsheet_safe, na_action="ignore").astype("string")
    return frame


def _write_csv(batches: Iterable[pd.DataFrame], shape: str, path: Path, bom: bool) -> int:
    rows = 0
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        for i, frame in enumerate(batches):
            _neutralised(frame, shape).to_csv(out, index=False, header=i == 0, lineterminator="\n")
            rows += len(frame)
    return rows


def _write_jsonl(batches: Iterable[pd.DataFrame], shape: str, path: Path, bom: bool) -> int:
    # Through Arrow, whose Python values are exact: ints stay ints, floats keep every digit, NA becomes null.
    schema = _arrow_schema(shape)
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        for frame in batches:
            for record in pa.Table.from_pandas(frame, schema=schema, preserve_index=False).to_pylist():
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                rows += 1
    return rows


def _write_parquet(batches: Iterable[pd.DataFrame], shape: str, path: Path, bom: bool) -> int:
    schema = _arrow_schema(shape)
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for frame in batches:
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            rows += len(frame)
    return rows


def _write_xlsx(batches: Iterable[pd.DataFrame], shape: str, path: Path, bom: bool) -> int:
    schema = _arrow_schema(shape)
    book = Workbook(write_only=True)  # streams rows to disk instead of holding every cell
    sheet = book.create_sheet(f"nianbao {shape}")
    sheet.append(schema.names)
    rows = 0
    for frame in batches:
        rows += len(frame)
        if rows + 1 > XLSX_MAX_ROWS:
            raise ExportError(f"more than {XLSX_MAX_ROWS - 1:,} rows do not fit in one XLSX sheet: "
                              "export as csv or parquet, or choose fewer reports with --year or --level")
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False).to_pydict()
        for row in zip(*table.values(), strict=True):
            sheet.append([xlsx_text(v) if isinstance(v, str) else v for v in row])
    book.save(path)
    return rows


_WRITERS: dict[str, Callable[[Iterable[pd.DataFrame], str, Path, bool], int]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
    "xlsx": _write_xlsx,
}


def write_frames(batches: Iterable[pd.DataFrame], shape: str, fmt: str, path: Path, *, bom: bool = False) -> int:
    """Write the frames to `path` in `fmt`; the number of rows written."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if bom and fmt != "csv":
        raise ExportError("--bom applies to CSV only (the other formats have no byte-order mark)")
    partial = path.with_name(f".{path.name}.partial")
    try:
        rows = _WRITERS[fmt](batches, shape, partial, bom)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows


def default_path(fmt: str, shape: str, year: int | None, level: str | None) -> Path:
    parts = ["nianbao", shape, *([str(year)] if year is not None else []), *([level] if level else [])]
    return Path("-".join(parts) + "." + fmt)


def export(
    store: Store,
    path: Path,
    *,
    fmt: str,
    shape: str,
    year: int | None = None,
    level: str | None = None,
    bom: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Export the chosen reports to `path` and write the codebook beside it; `progress(done, total)` is told
    how many reports are written after each batch."""
    chosen = choose(store, year=year, level=level)
    done = 0

    def advance(reports: int) -> None:
        nonlocal done
        done += reports
        if progress is not None:
            progress(done, len(chosen))

    advance(0)
    rows = write_frames(frames(store, chosen, shape, on_batch=advance), shape, fmt, path, bom=bom)
    return ExportResult(path, codebook.write_beside(path, bom=bom), len(chosen), rows)
