"""HOOK — the bytes of reports published as attachments or as pictures.

The simulator serves whatever these two functions return. For now they return small placeholder files of
the right type (a PDF/DOCX/DOC/XLS that says "placeholder", a blank PNG), so crawling and link handling can
be tested; a later change replaces them with real documents rendered from the same ReportDocument
(the ground truth already holds the values those documents must show).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from functools import cache

from simulator.render import ReportDocument

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "png": "image/png",
}
PLACEHOLDER_MARK = b"nianbao-simulator placeholder"


def attachment_bytes(doc: ReportDocument, fmt: str) -> bytes:
    """The file a report is published as: fmt is pdf, docx, doc or xls."""
    note = PLACEHOLDER_MARK + f" {fmt}: {doc.title_line}".encode()
    if fmt == "pdf":
        return b"%PDF-1.4\n% " + note + b"\n%%EOF\n"
    if fmt == "docx":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as docx:
            docx.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types/>')
            docx.writestr("placeholder.txt", note)
        return out.getvalue()
    # .doc and .xls are OLE compound files: their 8-byte signature, then the note.
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + note


def table_image_bytes(doc: ReportDocument, numeral: str) -> bytes:
    """The picture of the table of section `numeral` (二, 三 or 四) of an image-only report."""
    return _blank_png(554, 320)


@cache
def _blank_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    white_rows = (b"\x00" + b"\xff" * width) * height  # filter byte 0, then one grey byte a pixel
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(white_rows)) + chunk(b"IEND", b"")
