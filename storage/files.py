"""The content-addressed file store: every fetched document's bytes, kept once, under a name that is its sha256.

Layout `<root>/ab/cd/<sha256>`: two directory levels keep any one directory small at a million documents.
A file gets its final name only once it is complete and on disk (temp file in the same directory, fsync,
`os.replace`), so a killed process leaves at worst a `.tmp` file, never a short file under a hash name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

_SHA256 = re.compile(r"[0-9a-f]{64}")
TEMP_SUFFIX = ".tmp"


def is_sha256(text: str) -> bool:
    return _SHA256.fullmatch(text) is not None


def sniff_kind(data: bytes, content_type: str | None) -> str:
    """What a document is, from its bytes first: portals often serve PDFs and Word files as octet-stream."""
    head = data[:1024]
    ctype = (content_type or "").lower()
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        # OOXML parts are named in the zip's central directory at the end of the file.
        if b"word/" in data or "wordprocessing" in ctype:
            return "docx"
        if b"xl/" in data or "spreadsheet" in ctype:
            return "xlsx"
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: old Word and Excel
        if "WordDocument".encode("utf-16-le") in data or "msword" in ctype:
            return "doc"
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data or "excel" in ctype:
            return "xls"
        return "ole"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "image"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered or "html" in ctype:
        return "html"
    if ctype.startswith("text/"):
        return "text"
    return "other"


class FileStore:
    """Bytes by sha256. Paths are built only from a validated hash, never from a URL or a file name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store the bytes (once) and return their sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path(sha256)
        try:
            if path.stat().st_size == len(data):
                return sha256
        except FileNotFoundError:
            pass
        # A file of the wrong size under a hash name was damaged outside this code: replacing it repairs it.
        created = [d for d in (path.parent.parent, path.parent) if not d.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{sha256[:16]}-", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; documents are public and read by other tools
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename, and any directory just created, are durable only once their parent directory is synced.
        for directory in {path.parent, *(d.parent for d in created)}:
            _fsync_dir(directory)
        return sha256

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def sweep_temp_files(self, min_age_seconds: float = 3600) -> int:
        """Delete temp files left by killed writers; young ones may belong to a writer still running."""
        cutoff = time.time() - min_age_seconds
        removed = 0
        for tmp in self.root.glob(f"*/*/.*{TEMP_SUFFIX}"):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
