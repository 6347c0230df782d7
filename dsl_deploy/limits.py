"""Resource bounds on what enters the runtime: the largest frame, and an image's size read from its header.

A frame is at most MAX_PIXELS pixels (width x height) unless the caller raises the limit (`dsl-infer
--max-pixels`, `Pipeline(max_pixels=...)`, `open_source(max_pixels=...)`): a 1 MB PNG can declare 20000 x
20000 pixels, which would take gigabytes and seconds per frame. Image files are measured from their header,
before anything is decoded.
"""
from __future__ import annotations

import struct

from .errors import InputError

MAX_PIXELS = 50_000_000  # above 8K UHD (7680 x 4320 = 33.2 MP); a 1080p frame is 2.1 MP
MAX_PIXELS_TEXT = "50000000, above 8K UHD"


def check_pixels(width: int, height: int, limit: int, what: str) -> None:
    """InputError naming `what` when width x height is above `limit` pixels."""
    if width * height > limit:
        raise InputError(f"{what}: {width}x{height} is {width * height / 1e6:.1f} MP, above the limit of "
                         f"{limit / 1e6:g} MP per frame; raise it with --max-pixels (or max_pixels=) if this frame "
                         "is meant")


def header_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) declared by a PNG, JPEG, BMP, GIF, WebP or PNM header; None for other or damaged data."""
    b = bytes(data[:32])
    try:
        if b.startswith(b"\x89PNG\r\n\x1a\n") and b[12:16] == b"IHDR":
            return struct.unpack(">II", b[16:24])
        if b.startswith(b"GIF8"):
            return struct.unpack("<HH", b[6:10])
        if b.startswith(b"BM"):
            w, h = struct.unpack("<ii", b[18:26])
            return abs(w), abs(h)
        if b.startswith(b"RIFF") and b[8:12] == b"WEBP":
            return _webp(b)
        if b[:2] in (b"P5", b"P6", b"P2", b"P3"):
            return _pnm(bytes(data[:256]))
        if b.startswith(b"\xff\xd8"):
            return _jpeg(data)
    except struct.error:
        return None
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    kind = b[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(b[24:27], "little"), 1 + int.from_bytes(b[27:30], "little")
    if kind == b"VP8L":
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 ":
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _pnm(b: bytes) -> tuple[int, int] | None:
    words: list[int] = []
    for line in b[2:].split(b"\n"):
        for word in line.split(b"#", 1)[0].split():
            if not word.isdigit():
                return None
            words.append(int(word))
            if len(words) == 2:
                return words[0], words[1]
    return None


def _jpeg(data: bytes | memoryview) -> tuple[int, int] | None:
    """The frame size of the first SOF marker, walking the segments (EXIF and other APPn skipped)."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            h = (data[i + 5] << 8) | data[i + 6]
            w = (data[i + 7] << 8) | data[i + 8]
            return w, h
        if length < 2:
            return None
        i += 2 + length
    return None
