"""What the crawl's extraction workers run (crawler/pipelines.py submits it). Apart from the crawl's modules on purpose:
a worker imports this module and the extractor, not Scrapy, nor the storage and what sqlite-utils pulls in.

A worker reads the document from the file store, where the crawl has put it: the bytes do not travel through a pipe.
"""

from __future__ import annotations

from pathlib import Path

from extract import ExtractionError, Report, UnreadableDocument, extract_document
from extract.unreadable import unreadable_report


def extract(path: str, url: str, filename: str | None, content_type: str | None) -> tuple[str, list[Report] | str]:
    """("reports", reports), ("not a report", why), ("unreadable", why) or ("failed", what broke). An extractor bug
    must cost one document, not the night, and an exception may not survive the trip back between processes."""
    try:
        return "reports", extract_document(Path(path).read_bytes(), url=url, filename=filename, content_type=content_type)
    except UnreadableDocument as exc:
        return "unreadable", str(exc)
    except ExtractionError as exc:
        return "not a report", str(exc)
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"


def announced(page_path: str, page_url: str, document_url: str, reason: str, filename: str | None) -> Report | None:
    """The report an article page announces for its unreadable attachment; None when there is none, or when reading
    the page fails (that must cost one report, not the night)."""
    try:
        return unreadable_report(Path(page_path).read_bytes(), page_url=page_url, document_url=document_url,
                                 reason=reason, source=filename)
    except Exception:
        return None
