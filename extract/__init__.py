"""Extraction core: any report document → `Report`s in the common schema.

Pure functions over bytes: no crawling, no storage. `extract_document` is the one entry point.
"""

from __future__ import annotations

from extract.builder import build_report, is_report_like
from extract.html import read_html
from extract.model import ExtractionError, Grid, Report
from extract.text import read_text

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


def sniff_markup(data: bytes) -> str:
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in head or b"<table" in data[:65536].lower():
        return "html"
    return "text"


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError("text in an unknown encoding")


def read_grid(data: bytes) -> Grid:
    if not data.strip():
        raise ExtractionError("empty document")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ExtractionError(f"document of {len(data):,} bytes exceeds the {MAX_DOCUMENT_BYTES:,}-byte limit")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExtractionError("binary data, not a report document")
    if sniff_markup(data) == "html":
        return read_html(data)
    return read_text(decode_text(data))


def extract_document(
    data: bytes, *, url: str | None = None, filename: str | None = None, content_type: str | None = None
) -> list[Report]:
    """The reports a document holds (one, for every document seen so far).

    Raises ExtractionError with a one-line reason when the document is not an annual report.
    """
    grid = read_grid(data)
    report = build_report(grid, url=url, source=filename)
    if not is_report_like(report):
        raise ExtractionError("not an annual report: no report tables and no report title or sections")
    return [report]


__all__ = ["ExtractionError", "Report", "extract_document", "read_grid"]
