"""Looking at screenshots: the system's Chromium, a minimal PNG decoder, and a count of the
pixels close to given colours (the charts' stage colours)."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path


def chromium_binary() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Minimal PNG decoder (8-bit RGB/RGBA, not interlaced): width, height, RGBA rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = depth = color = interlace = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    if bpp == 4:
        rows = [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def count_colours(rows: list[bytes], colours: dict[str, str], tolerance: int = 6) -> dict[str, int]:
    """Pixels close to each named colour (within ``tolerance`` per channel), in one pass."""
    lookup: dict[bytes, str] = {}
    span = range(-tolerance, tolerance + 1)
    for name, hex_colour in colours.items():
        r, g, b = bytes.fromhex(hex_colour.lstrip("#"))
        for dr in span:
            for dg in span:
                for db in span:
                    rgb = (r + dr, g + dg, b + db)
                    if all(0 <= v <= 255 for v in rgb):
                        lookup[bytes(rgb)] = name
    hits = dict.fromkeys(colours, 0)
    for row in rows:
        for i in range(0, len(row), 3):
            name = lookup.get(row[i : i + 3])
            if name is not None:
                hits[name] += 1
    return hits
