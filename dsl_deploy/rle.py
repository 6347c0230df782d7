"""COCO run-length encoding, both ways: masks <-> RLE {"size": [h, w], "counts": ...} <-> COCO's compact string.

As the COCO data format documents it (cocodataset.org/#format-data): column-major run lengths starting with a
zero run; the counts either a list of ints (uncompressed) or COCO's compact string (6-bit characters from '0',
five payload bits, a continuation bit, sign extension on the last, deltas against the count two places back
from the third), the form pycocotools' `encode` writes. The native masks core (runtime/_masks) writes the same.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE (column-major run lengths, starting with zeros) of a boolean mask."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).reshape(-1, order="F")
    if flat.size == 0:
        return {"size": [h, w], "counts": []}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def rle_counts_to_string(counts: list[int]) -> str:
    """COCO's compressed RLE string of column-major run lengths (the format of pycocotools' `encode`)."""
    chars: list[str] = []
    for i, run in enumerate(counts):
        x = int(run)
        if i > 2:
            x -= int(counts[i - 2])  # runs are stored as differences to the run two before
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def compressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """{'size': [h, w], 'counts': str} of a boolean mask, as pycocotools writes it."""
    rle = mask_to_rle(mask)
    return {"size": rle["size"], "counts": rle_counts_to_string(rle["counts"])}


def decode_rle_string(s: str) -> list[int]:
    """COCO's compressed RLE string -> run lengths."""
    counts: list[int] = []
    p = 0
    n = len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("compressed RLE string ends inside a count")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"compressed RLE string has an invalid character {s[p]!r} at {p}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_mask(rle: Any, height: int, width: int) -> np.ndarray:
    """RLE dict (uncompressed or compressed counts) -> bool [height, width] mask."""
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        raise ValueError("RLE must be an object with 'size' and 'counts'")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and [int(v) for v in size] == [height, width]):
        raise ValueError(f"RLE size {size} differs from the image size [{height}, {width}]")
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", "replace")
    if isinstance(counts, str):
        counts = decode_rle_string(counts)
    if not isinstance(counts, (list, tuple)) or not all(isinstance(c, (int, np.integer)) for c in counts):
        raise ValueError("RLE counts must be a list of integers or a compressed string")
    runs = np.asarray(counts, np.int64)
    if (runs < 0).any():
        raise ValueError("RLE counts contain a negative run")
    if int(runs.sum()) != height * width:
        raise ValueError(f"RLE counts sum to {int(runs.sum())}, expected height*width = {height * width}")
    values = (np.arange(runs.size) % 2).astype(bool)
    flat = np.repeat(values, runs)
    return flat.reshape((width, height)).T.copy()
