"""Extraction core: any report document → `Report`s in the common schema.

Pure functions over bytes: no crawling, no storage. `extract_document` is the one entry point; what it
accepts is bounded by extract/limits.py.
"""

from __future__ import annotations

import time

from extract.attachments import read_attachment
from extract.builder import build_report, is_report_like
from extract.filetype import sniff
from extract.html import read_html
from extract.limits import MAX_DOCUMENT_BYTES, MAX_PAGE_BYTES, Deadline
from extract.model import ExtractionError, Grid, Report, UnreadableDocument
from extract.text import printable, read_text


def decode_text(data: bytes) -> str:
    data = printable(data)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError("text in an unknown encoding")


def read_grid(
    data: bytes, *, filename: str | None = None, content_type: str | None = None, deadline: Deadline | None = None
) -> Grid:
    """The document's grid, whatever the file is: the kind comes from the bytes, not the name."""
    if not data.strip():
        raise ExtractionError("empty document")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnreadableDocument(f"document of {len(data):,} bytes exceeds the {MAX_DOCUMENT_BYTES:,}-byte limit")
    kind = sniff(data, filename=filename, content_type=content_type)
    if kind == "html":
        return read_html(data, deadline)
    if kind == "text":
        if len(data) > MAX_PAGE_BYTES:
            raise UnreadableDocument(f"text document of {len(data):,} bytes exceeds the {MAX_PAGE_BYTES:,}-byte limit")
        return read_text(decode_text(data), deadline)
    if kind == "unknown":
        raise ExtractionError("binary data, not a report document")
    return read_attachment(data, kind)


def extract_document(
    data: bytes, *, url: str | None = None, filename: str | None = None, content_type: str | None = None
) -> list[Report]:
    """The reports a document holds (one, for every document seen so far).

    Raises ExtractionError with a one-line reason when the document is not an annual report or is beyond
    the limits of extract/limits.py.
    """
    deadline = Deadline()
    grid = read_grid(data, filename=filename, content_type=content_type, deadline=deadline)
    if time.monotonic() > deadline.end:  # only an attachment, read within its own longer limit (OCR), is late here
        deadline = Deadline()
    report = build_report(grid, url=url, source=filename, deadline=deadline)
    if not is_report_like(report):
        raise ExtractionError("not an annual report: no report tables and no report title or sections")
    return [report]


__all__ = ["ExtractionError", "Report", "UnreadableDocument", "extract_document", "read_grid"]
