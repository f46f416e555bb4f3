"""What a downloaded file really is, from its bytes.

Portals serve PDFs as application/octet-stream, WPS saves Word documents as .wps, a ".doc" is often an
HTML page or RTF, and an old .doc renamed .docx is common. So the extension and the Content-Type are
only tie-breakers: the magic bytes decide.

RTF maps to "doc": the DOC reader hands it to LibreOffice, which keeps its tables (stripping RTF to
plain text would lose them).
"""

from __future__ import annotations

import io
import re
import zipfile

KINDS = ("html", "text", "pdf", "docx", "doc", "xlsx", "xls", "png", "jpeg", "unknown")

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title|table|div|p)\b", re.I | re.S)
_HTML_ANYWHERE = re.compile(rb"<(html|body|table|div|p|br)\b[^>]*>", re.I)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")  # bytes plain text never holds (\x1b allowed: ESC in logs)
# A few stray ones (a CMS's NUL) do not make a page binary, the readers drop them (text.printable); binary data has ~10 %.
_CONTROL_SHARE = 100  # at most one byte in this many


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


def _hinted(filename: str | None, content_type: str | None, *words: str) -> bool:
    hint = f"{filename or ''} {content_type or ''}".lower()
    return any(w in hint for w in words)


def ole_is_encrypted_package(data: bytes) -> bool:
    """A password-protected DOCX/XLSX is an OLE container holding an "EncryptedPackage" stream."""
    return data.startswith(OLE_MAGIC) and _utf16("EncryptedPackage") in data


def _named_kind(filename: str | None, content_type: str | None, kinds: tuple[str, ...]) -> str:
    """Of `kinds`, the one the name or Content-Type says (a damaged container no longer says it itself)."""
    hints = {
        "docx": (".docx", "wordprocessingml"),
        "xlsx": (".xlsx", "spreadsheetml"),
        "doc": (".doc", ".wps", "msword", "kswps"),
        "xls": (".xls", ".et", "ms-excel"),
    }
    return next((kind for kind in kinds if _hinted(filename, content_type, *hints[kind])), "unknown")


def _sniff_ole(data: bytes, filename: str | None, content_type: str | None) -> str:
    # Stream names sit in the OLE directory as UTF-16LE; finding them avoids a full OLE parser.
    if ole_is_encrypted_package(data):
        # Encrypted OOXML: the container does not say which; the readers refuse it with a clear message.
        return "xlsx" if _hinted(filename, content_type, ".xls", ".et", "sheet", "excel") else "docx"
    if _utf16("WordDocument") in data:
        return "doc"
    if _utf16("Workbook") in data or _utf16("Book\x00") in data:
        return "xls"
    return _named_kind(filename, content_type, ("doc", "xls"))  # else PowerPoint, Outlook messages, …


def _sniff_zip(data: bytes, filename: str | None, content_type: str | None) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return _named_kind(filename, content_type, ("docx", "xlsx"))  # cut short: its reader says so
    if "word/document.xml" in names or any(n.startswith("word/") for n in names):
        return "docx"
    if "xl/workbook.xml" in names or any(n.startswith("xl/") for n in names):
        return "xlsx"
    return "unknown"  # pptx, OFD, plain archives


def _decodes(data: bytes) -> bool:
    sample = data[:65536]
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
        except UnicodeDecodeError as exc:
            # A cut multi-byte character at the end of the sample is not a decoding failure.
            if exc.start < len(sample) - 4:
                continue
        return True
    return False


def sniff(data: bytes, *, filename: str | None = None, content_type: str | None = None) -> str:
    """One of KINDS for these bytes; `filename`/`content_type` only break ties the bytes leave open."""
    head = data[:2048]
    if b"%PDF-" in data[:1024]:  # some servers prepend junk before the header; readers accept 1 KiB of it
        return "pdf"
    if head.startswith(OLE_MAGIC):
        return _sniff_ole(data, filename, content_type)
    if head.startswith(_ZIP_MAGIC):
        return _sniff_zip(data, filename, content_type)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{\\rtf"):
        return "doc"
    sample = data[:65536]
    if not data.strip() or len(_CONTROL.findall(sample)) > len(sample) // _CONTROL_SHARE or not _decodes(data):
        return "unknown"
    if _HTML_START.match(stripped) or (_hinted(filename, content_type, "html", "htm") and _HTML_ANYWHERE.search(data[:65536])):
        return "html"
    return "text"
