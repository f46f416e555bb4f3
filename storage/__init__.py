"""storage: the SQLite database and the content-addressed file store behind every crawl, extraction and check."""

from storage.files import FileStore
from storage.store import (
    FetchError,
    FindingsSummary,
    ReportVersionInfo,
    SaveResult,
    StorageError,
    Store,
    UrlState,
    content_hash,
)

__all__ = [
    "FetchError",
    "FileStore",
    "FindingsSummary",
    "ReportVersionInfo",
    "SaveResult",
    "StorageError",
    "Store",
    "UrlState",
    "content_hash",
]
