"""Extraction core: any report document → `Report`s in the common schema.

Pure functions over bytes: no crawling, no storage. `extract_document` is the one entry point.
"""

from __future__ import annotations

from extract.attachments import read_attachment
from extract.builder import build_report, is_report_like
from extract.filetype import sniff
from extract.html import read_html
from extract.model import ExtractionError, Grid, Report
from extract.text import read_text

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError("text in an unknown encoding")


def read_grid(data: bytes, *, filename: str | None = None, content_type: str | None = None) -> Grid:
    """The document's grid, whatever the file is: the kind comes from the bytes, not the name."""
    if not data.strip():
        raise ExtractionError("empty document")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ExtractionError(f"document of {len(data):,} bytes exceeds the {MAX_DOCUMENT_BYTES:,}-byte limit")
    kind = sniff(data, filename=filename, content_type=content_type)
    if kind == "html":
        return read_html(data)
    if kind == "text":
        return read_text(decode_text(data))
    if kind == "unknown":
        raise ExtractionError("binary data, not a report document")
    return read_attachment(data, kind)


def extract_document(
    data: bytes, *, url: str | None = None, filename: str | None = None, content_type: str | None = None
) -> list[Report]:
    """The reports a document holds (one, for every document seen so far).

    Raises ExtractionError with a one-line reason when the document is not an annual report.
    """
    grid = read_grid(data, filename=filename, content_type=content_type)
    report = build_report(grid, url=url, source=filename)
    if not is_report_like(report):
        raise ExtractionError("not an annual report: no report tables and no report title or sections")
    return [report]


__all__ = ["ExtractionError", "Report", "extract_document", "read_grid"]
