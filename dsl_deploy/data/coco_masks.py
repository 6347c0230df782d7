"""COCO segmentations -> boolean masks, without pycocotools: polygons here, RLE through `dsl_deploy.rle`.

Polygons as the COCO data format documents them (cocodataset.org/#format-data): lists of flat
[x0, y0, x1, y1, ...] lists in continuous image coordinates (pixel column i spans [i, i + 1]).
Every problem raises ValueError with a short reason; the loader adds the file and entry.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..rle import rle_mask


def _fill_polygon(mask: np.ndarray, xy: np.ndarray) -> None:
    """Set the pixels whose centres lie inside the polygon (even-odd rule), scanline by scanline."""
    h, w = mask.shape
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    r0, r1 = max(0, int(np.ceil(lo.min() - 0.5))), min(h, int(np.ceil(hi.max() - 0.5)))
    if r0 >= r1:
        return
    yc = np.arange(r0, r1)[:, None] + 0.5  # row centres in continuous coordinates
    # Half-open in y so a vertex on a row centre is crossed once.
    cross = (lo[None] <= yc) & (yc < hi[None])
    dy = np.where(y1 != y0, y1 - y0, 1.0)
    xs = np.where(cross, x0[None] + (yc - y0[None]) * ((x1 - x0) / dy)[None], np.inf)
    xs.sort(axis=1)
    counts = cross.sum(axis=1)
    for r in np.flatnonzero(counts >= 2):
        row = xs[r, :counts[r] - counts[r] % 2]
        # A pixel is inside when its centre c + 0.5 lies in [a, b): columns ceil(a - 0.5) .. ceil(b - 0.5) - 1.
        a = np.clip(np.ceil(row[0::2] - 0.5), 0, w).astype(np.intp)
        b = np.clip(np.ceil(row[1::2] - 0.5), 0, w).astype(np.intp)
        for ca, cb in zip(a, b):
            mask[r0 + r, ca:cb] ^= True


def polygon_mask(polygons: Any, height: int, width: int) -> np.ndarray:
    """List of flat [x, y, ...] polygons (continuous coordinates) -> bool mask of the pixel centres inside
    (the union of the polygons, as pycocotools merges them)."""
    if not isinstance(polygons, list) or not polygons:
        raise ValueError("polygon segmentation must be a non-empty list of [x0, y0, x1, y1, ...] lists")
    out = np.zeros((height, width), bool)
    for n, poly in enumerate(polygons):
        try:
            arr = np.asarray(poly, np.float64) if isinstance(poly, list) else np.empty(0)
        except (TypeError, ValueError):
            arr = np.empty(0)
        if arr.ndim != 1 or arr.size < 6 or arr.size % 2 or not np.isfinite(arr).all():
            raise ValueError(f"polygon {n} must be a flat list of at least 3 finite (x, y) pairs")
        one = np.zeros((height, width), bool)
        _fill_polygon(one, arr.reshape(-1, 2))
        out |= one
    return out


def segmentation_mask(seg: Any, height: int, width: int) -> np.ndarray:
    """Any COCO segmentation (polygons or RLE) -> bool [height, width] mask."""
    if isinstance(seg, dict):
        return rle_mask(seg, height, width)
    if isinstance(seg, list):
        return polygon_mask(seg, height, width)
    raise ValueError(f"segmentation is a {type(seg).__name__}; expected a polygon list or an RLE object")
