"""Word 97–2003 binary documents (.doc, MS-DOC) for the simulator, written directly.

LibreOffice converts a DOCX to DOC in ~1 s a file, too slow for a world with a hundred .doc reports. This writes
the format itself, the way Word 97 and WPS write a simple document: an OLE2 compound file with a WordDocument
stream (the FIB, the text as one UTF-16 piece, character and paragraph property pages) and a 1Table stream
(style sheet, font table, piece table, property bin tables, section table, document properties).

Tables are Word 97 tables: each cell's text ends with a cell mark (\\x07), each row with a row mark whose
paragraph properties carry the row's cell edges and per-cell flags (sprmTDefTable). A cell merged across
columns is one wider cell of its row; cells merged down carry fVertMerge (and fVertRestart on the first), as
Word writes them. LibreOffice and antiword read these files (tests/test_simulator_attachments.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.printing import column_widths, covering
from simulator.render import LABEL, Heading, LayoutTable, ReportDocument, document_blocks

# ------------------------------------------------------------------------------------------------ the container

SECTOR = 512
_ENDOFCHAIN, _FATSECT, _FREESECT, _NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF, 0xFFFFFFFF
MINI_STREAM_CUTOFF = 4096


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An OLE2 compound file (MS-CFB version 3) holding `streams` in its root storage.

    Streams are padded to the mini-stream cutoff so that all live in regular sectors (no mini FAT needed);
    the padding lies past every offset the document records, where readers do not look.
    """
    names = list(streams)
    data = {n: streams[n] + bytes(max(0, MINI_STREAM_CUTOFF - len(streams[n]))) for n in names}
    sectors: list[bytes] = []
    fat: list[int] = []
    starts = {}
    for name in names:
        blob = data[name] + bytes(-len(data[name]) % SECTOR)
        count = len(blob) // SECTOR
        starts[name] = len(sectors)
        sectors += [blob[i * SECTOR : (i + 1) * SECTOR] for i in range(count)]
        fat += [len(fat) + i + 1 for i in range(count - 1)] + [_ENDOFCHAIN]
    directory_start = len(sectors)
    # The directory is a red-black tree ordered by (name length, upper-case name): the first stream is the root
    # of it, the others hang to its right in that order (all but the root red).
    ordered = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    tree = {ordered[k]: (ordered[k + 1] + 1 if k + 1 < len(ordered) else _NOSTREAM) for k in range(len(ordered))}
    entries = [_dir_entry("Root Entry", 5, _ENDOFCHAIN, 0, child=ordered[0] + 1)]
    entries += [_dir_entry(name, 2, starts[name], len(data[name]), right=tree[i], black=i == ordered[0]) for i, name in enumerate(names)]
    directory = b"".join(entries)
    directory += bytes(-len(directory) % SECTOR)
    for i in range(len(directory) // SECTOR):
        sectors.append(directory[i * SECTOR : (i + 1) * SECTOR])
        fat.append(len(fat) + 1 if i + 1 < len(directory) // SECTOR else _ENDOFCHAIN)
    fat_count = 1
    while len(fat) + fat_count > fat_count * (SECTOR // 4):
        fat_count += 1
    fat_start = len(fat)
    fat += [_FATSECT] * fat_count
    fat += [_FREESECT] * (fat_count * (SECTOR // 4) - len(fat))
    if fat_count > 109:
        raise ValueError("document too large for a FAT without DIFAT sectors")
    difat = [fat_start + i for i in range(fat_count)] + [_FREESECT] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", bytes(16), 0x3E, 3, 0xFFFE, 9, 6, bytes(6),
        0, fat_count, directory_start, 0, MINI_STREAM_CUTOFF, _ENDOFCHAIN, 0, _ENDOFCHAIN, 0, *difat,
    )
    return header + b"".join(sectors) + struct.pack(f"<{len(fat)}I", *fat)


def _dir_entry(name: str, kind: int, start: int, size: int, *, child: int = _NOSTREAM, right: int = _NOSTREAM,
               black: bool = True) -> bytes:
    encoded = name.encode("utf-16-le") + b"\0\0"
    return struct.pack("<64sHBBIII16sIQQIQ", encoded, len(encoded), kind, 1 if black else 0, _NOSTREAM, right, child,
                       bytes(16), 0, 0, 0, start, size)


# ------------------------------------------------------------------------------------------------ properties

# Single-property modifiers (sprm opcodes, MS-DOC 2.6).
P_JC, P_IN_TABLE, P_TTP, P_INDENT_FIRST = 0x2403, 0x2416, 0x2417, 0x8411
T_DEF_TABLE, T_GAP_HALF = 0xD608, 0x9602
C_BOLD, C_SIZE, C_FONT_ASCII, C_FONT_EAST_ASIAN = 0x0835, 0x4A43, 0x4A4F, 0x4A50
S_PAGE_WIDTH, S_PAGE_HEIGHT, S_LEFT, S_RIGHT = 0xB01F, 0xB020, 0xB021, 0xB022
VERT_MERGE, VERT_RESTART = 0x20, 0x40  # TC80 flags of a cell merged with the cells below/above it

_BORDER = struct.pack("<BBBB", 4, 1, 1, 0)  # Brc80: 0.5 pt single black line


def sprm(opcode: int, operand: int, size: int) -> bytes:
    return struct.pack("<H", opcode) + operand.to_bytes(size, "little", signed=operand < 0)


def def_table(edges: list[int], flags: list[int]) -> bytes:
    """sprmTDefTable: a row's cell edges (twips) and each cell's TC80 (merge flags, all four borders ruled)."""
    cells = len(edges) - 1
    body = struct.pack("<B", cells) + struct.pack(f"<{len(edges)}h", *edges)
    body += b"".join(struct.pack("<HH", f, edges[i + 1] - edges[i]) + _BORDER * 4 for i, f in enumerate(flags))
    return struct.pack("<HH", T_DEF_TABLE, len(body) + 1) + body


@dataclass
class _Paragraph:
    """Text ending in its mark (\\r, or \\x07 for the last paragraph of a cell and for a row's end)."""

    text: str
    papx: bytes = b""
    chpx: bytes = b""


@dataclass
class _Body:
    paragraphs: list[_Paragraph] = field(default_factory=list)

    def add(self, text: str, papx: bytes = b"", chpx: bytes = b"") -> None:
        self.paragraphs.append(_Paragraph(text, papx, chpx))


_TITLE = sprm(C_BOLD, 1, 1) + sprm(C_SIZE, 44, 2) + sprm(C_FONT_EAST_ASIAN, 1, 2)
_HEADING = sprm(C_BOLD, 1, 1) + sprm(C_SIZE, 32, 2) + sprm(C_FONT_EAST_ASIAN, 2, 2)
_BODY = sprm(C_SIZE, 32, 2) + sprm(C_FONT_EAST_ASIAN, 3, 2)
_CELL = sprm(C_SIZE, 21, 2)
_TABLE_WIDTH = 9000  # twips (~15.9 cm)


def _table(body: _Body, table: LayoutTable) -> None:
    widths = column_widths(table, float(_TABLE_WIDTH))
    xs = [round(sum(widths[:i])) for i in range(len(widths) + 1)]
    in_table = sprm(P_IN_TABLE, 1, 1)
    for r, line in enumerate(covering(table)):
        edges, flags = [xs[0]], []
        c = 0
        while c < table.width:
            placed = line[c]
            cell = placed.cell
            flags.append((VERT_MERGE | (VERT_RESTART if placed.row == r else 0)) if cell.rowspan > 1 else 0)
            shown = cell.text if placed.row == r else ""
            body.add(shown.replace("\n", "\x0b") + "\x07", in_table + sprm(P_JC, 0 if cell.kind == LABEL else 1, 1), _CELL)
            edges.append(xs[c + cell.colspan])
            c += cell.colspan
        body.add("\x07", in_table + sprm(P_TTP, 1, 1) + sprm(T_GAP_HALF, 108, 2) + def_table(edges, flags), _CELL)


def document_body(doc: ReportDocument) -> _Body:
    body = _Body()
    centred = sprm(P_JC, 1, 1)
    for line in (part.strip() for part in doc.title.split("\n")):
        if line:
            body.add(line + "\r", centred, _TITLE)
    body.add("\r", b"", _BODY)
    for block in document_blocks(doc):
        if isinstance(block, LayoutTable):
            _table(body, block)
            body.add("\r", b"", _BODY)  # Word keeps a paragraph after every table
        elif isinstance(block, Heading):
            body.add(block.text + "\r", b"", _HEADING)
        else:
            body.add(block.text + "\r", sprm(P_INDENT_FIRST, 640, 2), _BODY)
    return body


# ------------------------------------------------------------------------------------------------ property pages


def _papx_in_fkp(papx: bytes) -> bytes:
    data = struct.pack("<H", 0) + papx  # istd 0 (Normal), then the sprms
    if len(data) % 2:
        return struct.pack("<B", (len(data) + 1) // 2) + data
    return struct.pack("<BB", 0, len(data) // 2) + data


def _fkp_pages(runs: list[tuple[int, int, bytes]], entry: int, encode: Callable[[bytes], bytes]) -> list[bytes]:
    """Formatted disk pages: runs (first fc, end fc, properties), `entry` bytes per run besides its fc
    (1: CHPX offsets, 13: PAPX offset + PHE), each encoded property set stored once per page, from the page's
    end; an empty encoding is "default properties" (offset 0)."""
    pages: list[bytes] = []
    i = 0
    while i < len(runs):
        page_runs: list[tuple[int, int, bytes]] = []
        stored: dict[bytes, int] = {}
        end = SECTOR - 1  # the last byte holds the run count
        while i < len(runs):
            props = runs[i][2]
            blob = encode(props)
            extra = 0 if not blob or props in stored else len(blob) + 1
            head = 4 * (len(page_runs) + 2) + entry * (len(page_runs) + 1)
            if head > end - extra:
                break
            if blob and props not in stored:
                end = (end - len(blob)) & ~1
                stored[props] = end
            page_runs.append(runs[i])
            i += 1
        page = bytearray(SECTOR)
        fcs = [r[0] for r in page_runs] + [page_runs[-1][1]]
        page[: 4 * len(fcs)] = struct.pack(f"<{len(fcs)}I", *fcs)
        for props, offset in stored.items():
            blob = encode(props)
            page[offset : offset + len(blob)] = blob
        for k, (_, _, props) in enumerate(page_runs):
            page[4 * len(fcs) + entry * k] = stored.get(props, 0) // 2
        page[SECTOR - 1] = len(page_runs)
        pages.append(bytes(page))
    return pages


# ------------------------------------------------------------------------------------------------ the table stream


def _stylesheet() -> bytes:
    """One style, Normal, in the 15 slots Word reserves for built-in styles."""
    name = "Normal"
    xstz = struct.pack("<H", len(name)) + name.encode("utf-16-le") + b"\0\0"
    upx = struct.pack("<HH", 2, 0) + struct.pack("<H", 0)  # UpxPapx: istd 0, no sprms; UpxChpx: none
    size = 10 + len(xstz) + len(upx)
    # sti 0 (Normal); stk 1 (paragraph style), no base style (0xFFF); 2 UPXs, next style 0; bchUpe = its size
    std = struct.pack("<HHHHH", 0, 1 | 0xFFF << 4, 2, size, 0) + xstz + upx
    stshi = struct.pack("<HHHHHH3H", 15, 10, 1, 0x5B, 15, 0, 0, 0, 0)
    styles = struct.pack("<H", len(std)) + std + struct.pack("<H", 0) * 14
    return struct.pack("<H", len(stshi)) + stshi + styles


_FONTS = ("宋体", "方正小标宋简体", "黑体", "仿宋_GB2312")


def _font_table() -> bytes:
    entries = []
    for name in _FONTS:
        ffn = struct.pack("<BHBB10s24s", 0x02 | 0x04, 400, 0x86, 0, bytes(10), bytes(24)) + name.encode("utf-16-le") + b"\0\0"
        entries.append(struct.pack("<B", len(ffn)) + ffn)
    return struct.pack("<HH", len(entries), 0) + b"".join(entries)


def _plc(cps: list[int], items: list[bytes]) -> bytes:
    return struct.pack(f"<{len(cps)}I", *cps) + b"".join(items)


# ------------------------------------------------------------------------------------------------ the document

TEXT_FC = 0x400  # the text follows the FIB, as in Word's own files
_FIB_PAIRS = 93  # FibRgFcLcb97
_PAIR = {"stshf": 1, "chpx": 12, "papx": 13, "fonts": 15, "dop": 31, "clx": 33, "sed": 6}


def render_doc(doc: ReportDocument) -> bytes:
    body = document_body(doc)
    text = "".join(p.text for p in body.paragraphs)
    encoded = text.encode("utf-16-le")
    word = bytearray(TEXT_FC) + encoded
    word += bytes(-len(word) % SECTOR)

    para_runs, char_runs = [], []
    fc = TEXT_FC
    for p in body.paragraphs:
        end = fc + 2 * len(p.text)
        para_runs.append((fc, end, p.papx))
        char_runs.append((fc, end, p.chpx))
        fc = end
    chpx_pages = _fkp_pages(char_runs, 1, lambda props: struct.pack("<B", len(props)) + props if props else b"")
    papx_pages = _fkp_pages(para_runs, 13, _papx_in_fkp)
    first_chpx = len(word) // SECTOR
    word += b"".join(chpx_pages)
    first_papx = len(word) // SECTOR
    word += b"".join(papx_pages)
    sepx_fc = len(word)
    sepx = b"".join((sprm(S_PAGE_WIDTH, 11906, 2), sprm(S_PAGE_HEIGHT, 16838, 2), sprm(S_LEFT, 1418, 2), sprm(S_RIGHT, 1418, 2)))
    word += struct.pack("<H", len(sepx)) + sepx

    table = bytearray()
    pairs = [(0, 0)] * _FIB_PAIRS

    def put(name: str, data: bytes) -> None:
        pairs[_PAIR[name]] = (len(table), len(data))
        table.extend(data + bytes(len(data) % 2))

    ccp = len(text)
    put("stshf", _stylesheet())
    put("chpx", _plc([r[0] for r in _page_starts(chpx_pages)] + [fc], [struct.pack("<I", first_chpx + i) for i in range(len(chpx_pages))]))
    put("papx", _plc([r[0] for r in _page_starts(papx_pages)] + [fc], [struct.pack("<I", first_papx + i) for i in range(len(papx_pages))]))
    put("sed", _plc([0, ccp], [struct.pack("<HIHI", 0, sepx_fc, 0, 0xFFFFFFFF)]))
    put("fonts", _font_table())
    put("dop", bytes(500))
    put("clx", b"\x02" + struct.pack("<I", 16) + _plc([0, ccp], [struct.pack("<HIH", 0, TEXT_FC, 0)]))

    fib = struct.pack("<HHHHHHHIBBHHII", 0xA5EC, 0x00C1, 0, 0x0804, 0, (1 << 9) | (1 << 12), 0x00BF, 0, 0, 0, 0, 0, 0, 0)
    fib += struct.pack("<H", 14) + bytes(26) + struct.pack("<H", 0x0804)
    longs = [len(word), 0, 0, ccp] + [0] * 18
    fib += struct.pack("<H", 22) + struct.pack("<22i", *longs)
    fib += struct.pack("<H", _FIB_PAIRS) + b"".join(struct.pack("<II", *p) for p in pairs) + struct.pack("<H", 0)
    word[: len(fib)] = fib
    return compound_file({"WordDocument": bytes(word), "1Table": bytes(table)})


def _page_starts(pages: list[bytes]) -> list[tuple[int]]:
    """The first fc of each formatted disk page."""
    return [struct.unpack("<I", page[:4]) for page in pages]
