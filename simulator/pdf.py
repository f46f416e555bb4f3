"""A small PDF writer for the simulator's printed reports: text in an embedded CJK TrueType font, ruled boxes.

fpdf2 spends ~0.3–1 s a document subsetting the 17 MB CJK font with fontTools. Here the font's raw tables are
read once per process and each document embeds a font program with only the glyphs it prints: same glyph ids,
the other glyphs empty (zero length in `loca`). Text is written as glyph ids (Identity-H, CID = GID) with a
ToUnicode map and the glyph widths, which is what text extraction (pdfminer/pdfplumber) and rendering
(poppler) read. Optionally encrypted with the standard security handler (RC4, revision 2), as old office
software does, so the file needs its password to open.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")  # PDF 32000 §7.6.3.3
_COMPOSITE_MORE, _COMPOSITE_WORDS, _COMPOSITE_SCALE, _COMPOSITE_XY, _COMPOSITE_2X2 = 0x20, 0x1, 0x8, 0x40, 0x80


@dataclass(frozen=True)
class Font:
    """The raw tables of a TrueType font and what a writer needs from them."""

    name: str
    cmap: dict[int, int]  # code point → glyph id
    advances: list[int]  # per glyph id, in font units
    units_per_em: int
    ascent: int
    descent: int
    bbox: tuple[int, int, int, int]
    tables: dict[str, bytes]  # head, hhea, maxp, hmtx, post
    glyf: bytes
    loca: list[int]  # glyph id → offset in glyf; loca[gid + 1] - loca[gid] is its length

    def width(self, text: str, size: float) -> float:
        notdef = self.advances[0]
        return sum(self.advances[self.cmap[ord(ch)]] if ord(ch) in self.cmap else notdef for ch in text) * size / self.units_per_em

    def glyph(self, gid: int) -> bytes:
        return self.glyf[self.loca[gid] : self.loca[gid + 1]]

    def closure(self, gids: Iterable[int]) -> set[int]:
        """The glyphs and, for composite glyphs, the glyphs they are made of."""
        todo, out = list(gids), {0}
        while todo:
            gid = todo.pop()
            if gid in out:
                continue
            out.add(gid)
            data = self.glyph(gid)
            if len(data) >= 10 and struct.unpack(">h", data[:2])[0] < 0:
                todo.extend(_components(data))
        return out

    def program(self, gids: set[int]) -> bytes:
        """A TrueType font program holding only `gids` (other glyph ids are empty)."""
        glyf, loca = bytearray(), []
        for gid in range(len(self.loca) - 1):
            loca.append(len(glyf))
            if gid in gids:
                glyf += self.glyph(gid)
                glyf += bytes(-len(glyf) % 4)
        loca.append(len(glyf))
        head = bytearray(self.tables["head"])
        head[8:12] = bytes(4)  # checkSumAdjustment: computed over the whole font below
        head[50:52] = struct.pack(">h", 1)  # long offsets in loca
        tables = {**self.tables, "head": bytes(head), "loca": struct.pack(f">{len(loca)}I", *loca), "glyf": bytes(glyf)}
        font, offsets = _sfnt(tables)
        at = offsets["head"] + 8
        adjustment = (0xB1B0AFBA - _checksum(font)) & 0xFFFFFFFF
        return font[:at] + struct.pack(">I", adjustment) + font[at + 4 :]


def _components(data: bytes) -> list[int]:
    position, out = 10, []
    while position + 4 <= len(data):
        flags, gid = struct.unpack(">HH", data[position : position + 4])
        out.append(gid)
        position += 4 + (4 if flags & _COMPOSITE_WORDS else 2)
        position += 2 if flags & _COMPOSITE_SCALE else 4 if flags & _COMPOSITE_XY else 8 if flags & _COMPOSITE_2X2 else 0
        if not flags & _COMPOSITE_MORE:
            break
    return out


def _checksum(data: bytes) -> int:
    data += bytes(-len(data) % 4)
    return sum(struct.unpack(f">{len(data) // 4}I", data)) & 0xFFFFFFFF


def _sfnt(tables: dict[str, bytes]) -> tuple[bytes, dict[str, int]]:
    tags = sorted(tables)
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16)
    offset = len(header) + 16 * count
    directory, body, offsets = b"", b"", {}
    for tag in tags:
        data = tables[tag]
        offsets[tag] = offset + len(body)
        directory += struct.pack(">4sIII", tag.encode("ascii"), _checksum(data), offsets[tag], len(data))
        body += data + bytes(-len(data) % 4)
    return header + directory + body, offsets


@cache
def load_font(path: Path, number: int = 0) -> Font:
    """Font `number` of a TrueType file or collection (~0.2 s; once per process)."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=number, lazy=True)
    head, hhea = font["head"], font["hhea"]
    raw_loca = font.reader["loca"]
    loca = list(struct.unpack(f">{len(raw_loca) // 4}I", raw_loca)) if head.indexToLocFormat else [
        2 * o for o in struct.unpack(f">{len(raw_loca) // 2}H", raw_loca)
    ]
    order = font.getGlyphOrder()
    gid = {name: i for i, name in enumerate(order)}
    advances = [font["hmtx"].metrics[name][0] for name in order]
    name = "".join(ch for ch in font["name"].getDebugName(6) or "Font" if ch.isalnum())
    return Font(
        name=name,
        cmap={code: gid[name] for code, name in font.getBestCmap().items()},
        advances=advances,
        units_per_em=head.unitsPerEm,
        ascent=hhea.ascent,
        descent=hhea.descent,
        bbox=(head.xMin, head.yMin, head.xMax, head.yMax),
        tables={tag: font.reader[tag] for tag in ("head", "hhea", "maxp", "hmtx")}
        | {"post": struct.pack(">IIhhIIIII", 0x00030000, 0, 0, 0, 0, 0, 0, 0, 0)},
        glyf=font.reader["glyf"],
        loca=loca,
    )


# ---------------------------------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class TextOp:
    x: float
    baseline: float  # from the top of the page
    size: float
    text: str


@dataclass(frozen=True)
class BoxOp:
    x0: float
    top: float
    x1: float
    bottom: float


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) & 0xFF
        state[i], state[j] = state[j], state[i]
    out = bytearray(len(data))
    i = j = 0
    for n, byte in enumerate(data):
        i = (i + 1) & 0xFF
        j = (j + state[i]) & 0xFF
        state[i], state[j] = state[j], state[i]
        out[n] = byte ^ state[(state[i] + state[j]) & 0xFF]
    return bytes(out)


class _Security:
    """The standard security handler, revision 2 (40-bit RC4): the user password opens the file."""

    PERMISSIONS = -44  # print and copy allowed, nothing else

    def __init__(self, password: str, file_id: bytes) -> None:
        user = (password.encode("latin-1") + _PAD)[:32]
        owner_key = hashlib.md5(((password + "-owner").encode("latin-1") + _PAD)[:32]).digest()[:5]
        self.owner = _rc4(owner_key, user)
        digest = hashlib.md5(user + self.owner + struct.pack("<i", self.PERMISSIONS) + file_id).digest()
        self.key = digest[:5]
        self.user = _rc4(self.key, _PAD)

    def encrypt(self, number: int, data: bytes) -> bytes:
        key = hashlib.md5(self.key + struct.pack("<I", number)[:3] + b"\0\0").digest()[:10]
        return _rc4(key, data)

    def dictionary(self) -> bytes:
        return (b"<< /Filter /Standard /V 1 /R 2 /Length 40 /O <" + self.owner.hex().encode() + b"> /U <"
                + self.user.hex().encode() + b"> /P " + str(self.PERMISSIONS).encode() + b" >>")


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _utf16(text: str) -> bytes:
    return b"\xfe\xff" + text.encode("utf-16-be")


class _Writer:
    def __init__(self, security: _Security | None) -> None:
        self.objects: list[bytes] = []
        self.security = security

    def reserve(self) -> int:
        self.objects.append(b"")
        return len(self.objects)

    def put(self, body: bytes, number: int | None = None) -> int:
        number = number or self.reserve()
        self.objects[number - 1] = body
        return number

    def stream(self, data: bytes, extra: bytes = b"", number: int | None = None) -> int:
        number = number or self.reserve()
        packed = zlib.compress(data, 6)
        if self.security is not None:
            packed = self.security.encrypt(number, packed)
        return self.put(b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n" % (len(packed), extra) + packed + b"\nendstream", number)

    def text_string(self, number: int, text: str) -> bytes:
        data = _utf16(text)
        if self.security is not None:
            data = self.security.encrypt(number, data)
        return b"<" + data.hex().encode() + b">"


def write_pdf(
    pages: list[tuple[float, float, list[TextOp], list[BoxOp]]],
    font: Font,
    *,
    title: str,
    producer: str,
    password: str | None = None,
) -> bytes:
    """A PDF of `pages` (width, height, text, boxes), every text in `font`."""
    chars = {ch for _, _, texts, _ in pages for op in texts for ch in op.text}
    file_id = hashlib.md5(("\x1f".join(op.text for _, _, texts, _ in pages for op in texts) + title).encode()).digest()
    security = _Security(password, file_id) if password is not None else None
    w = _Writer(security)
    catalog, pages_ref, font_ref, info_ref = w.reserve(), w.reserve(), w.reserve(), w.reserve()
    kids = []
    for width, height, texts, boxes in pages:
        content = w.stream(_content(texts, boxes, height, font))
        kids.append(w.put(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (pages_ref, _number(width).encode(), _number(height).encode(), font_ref, content)
        ))
    w.put(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)), pages_ref)
    w.put(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_ref, catalog)

    used = {font.cmap[ord(ch)] for ch in chars if ord(ch) in font.cmap}
    gids = sorted(font.closure(used))
    scale = 1000 / font.units_per_em
    program = font.program(set(gids))
    subset_tag = "".join(chr(65 + b % 26) for b in hashlib.md5(repr(gids).encode()).digest()[:6])
    base = f"{subset_tag}+{font.name}".encode("ascii")
    font_file = w.stream(program, b"/Length1 %d " % len(program))
    descriptor = w.put(
        b"<< /Type /FontDescriptor /FontName /%s /Flags 4 /FontBBox [%s] /ItalicAngle 0 /Ascent %d /Descent %d"
        b" /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>"
        % (base, " ".join(str(round(v * scale)) for v in font.bbox).encode(), round(font.ascent * scale),
           round(font.descent * scale), round(font.ascent * scale), font_file)
    )
    widths = " ".join(f"{g} [{round(font.advances[g] * scale)}]" for g in gids)
    cid_font = w.put(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity)"
        b" /Supplement 0 >> /FontDescriptor %d 0 R /DW 1000 /W [%s] /CIDToGIDMap /Identity >>" % (base, descriptor, widths.encode())
    )
    to_unicode = w.stream(_cmap({font.cmap[ord(ch)]: ch for ch in sorted(chars) if ord(ch) in font.cmap}))
    w.put(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>"
        % (base, cid_font, to_unicode),
        font_ref,
    )
    w.put(b"<< /Title %s /Producer %s >>" % (w.text_string(info_ref, title), w.text_string(info_ref, producer)), info_ref)
    encrypt_ref = w.put(security.dictionary()) if security is not None else None

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(w.objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(w.objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    identifier = b"<" + file_id.hex().encode() + b">"
    encrypt = b" /Encrypt %d 0 R" % encrypt_ref if encrypt_ref else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [%s %s]%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(w.objects) + 1, catalog, info_ref, identifier, identifier, encrypt, xref)
    return bytes(out)


def _content(texts: list[TextOp], boxes: list[BoxOp], height: float, font: Font) -> bytes:
    """A page's content stream, as lean as office software writes it: the rules as one path stroked once, the
    text in one text object, each line placed relative to the one before and the font set only when it changes
    (text extraction parses every operator: half the operators, half the parsing)."""
    ops = ["0.5 w"]
    ops += [f"{_number(b.x0)} {_number(height - b.bottom)} {_number(b.x1 - b.x0)} {_number(b.bottom - b.top)} re" for b in boxes]
    ops += ["S", "BT"] if boxes else ["BT"]
    x, y, size = 0.0, 0.0, None
    for op in texts:
        if op.size != size:
            size = op.size
            ops.append(f"/F1 {_number(size)} Tf")
        line_x, line_y = round(op.x, 2), round(height - op.baseline, 2)
        gids = "".join(f"{font.cmap.get(ord(ch), 0):04x}" for ch in op.text)
        ops.append(f"{_number(line_x - x)} {_number(line_y - y)} Td <{gids}> Tj")
        x, y = line_x, line_y
    ops.append("ET")
    return "\n".join(ops).encode("ascii")


def _cmap(glyphs: dict[int, str]) -> bytes:
    lines = [
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def", "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def", "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange",
    ]
    items = sorted(glyphs.items())
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{gid:04x}> <{ch.encode('utf-16-be').hex()}>" for gid, ch in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")
