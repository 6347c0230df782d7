"""NumPy reference decoder: the decode contract of docs/architecture.md, stage by stage; the oracle of the tests.

The default rules are the authors' (DESIGN.md, "Decoding"). Arithmetic is float32 throughout, in the order
the C++ core uses, so that the two agree bit for bit: seeds accumulate in raster order of the PIF grid, and
each splat weight is computed as the authors' Cython computes it (their float64 steps round to the same
float32 values, because float64 carries more than twice float32's precision; see architecture.md).
"""
from __future__ import annotations

import time

import numpy as np

from ..result import Ball, FrameResult
from ..spec import BALL, CENTER, NUM_BODY_PARTS, NUM_TYPES, DecoderSpec
from .boundary import check_offsets_read
from .rules import above, approx_exp

_F = np.float32
_ASSIGN_CHUNK = 1 << 15  # player pixels per distance block with up to 256 centres (more: smaller blocks)
_ASSIGN_CELLS = _ASSIGN_CHUNK * 256  # pixel-centre distances per block: 32 MB per float32 temporary


def fuse_maps(pif: np.ndarray, height: int, width: int, d: DecoderSpec, exact: bool | None = None) -> np.ndarray:
    """Eq. 3: splat every PIF seed of every type onto float32 [19, height, width] maps."""
    exact = d.exact if exact is None else exact
    fused = np.zeros((NUM_TYPES, height, width), np.float32)
    for k in range(NUM_TYPES):
        conf = pif[k, 0]
        js, is_ = np.nonzero(above(conf, d.seed_threshold, d.strict_thresholds))  # raster order of the grid
        for j, i in zip(js.tolist(), is_.tolist()):
            c, x, y = conf[j, i], pif[k, 1, j, i], pif[k, 2, j, i]
            s = max(pif[k, 4, j, i], _F(d.sigma_min))
            if exact:
                _splat_exact(fused[k], c, x, y, s)
            else:
                _splat(fused[k], c / _F(d.weight_divisor), x, y, s, d)
    return fused


def _splat_exact(m: np.ndarray, v: np.float32, x: np.float32, y: np.float32, s: np.float32) -> None:
    """The untruncated Eq. 3 term: separable exp(-d^2/2s^2) with each factor in float64, rounded to float32."""
    two_s2 = 2.0 * float(s) * float(s)
    ex = np.exp(-np.square(np.arange(m.shape[1], dtype=np.float64) - float(x)) / two_s2).astype(np.float32)
    ey = np.exp(-np.square(np.arange(m.shape[0], dtype=np.float64) - float(y)) / two_s2).astype(np.float32)
    m += v * (ey[:, None] * ex[None, :])


def _splat(m: np.ndarray, v: np.float32, x: np.float32, y: np.float32, s: np.float32, d: DecoderSpec) -> None:
    """One seed, the authors' convention: disc (or square) support, nearest pixel at full value, clamp."""
    h, w = m.shape
    reach = _F(d.truncate) * s
    x0, x1 = _support(x, reach, w)
    y0, y1 = _support(y, reach, h)
    dx2 = np.square(np.arange(x0, x1, dtype=np.float32) - x)
    dy2 = np.square(np.arange(y0, y1, dtype=np.float32) - y)
    dist2 = dy2[:, None] + dx2[None, :]
    s2 = s * s
    e = (_F(-0.5) * dist2) / s2
    weight = approx_exp(e) if d.gaussian == "approx" else np.exp(e.astype(np.float64)).astype(np.float32)
    val = v * weight
    val[np.ix_(dy2 < 0.25, dx2 < 0.25)] = v  # the nearest pixel takes the full value
    if d.support == "disc":
        val[dist2 > (_F(d.truncate) * _F(d.truncate)) * s2] = 0.0
    region = m[y0:y1, x0:x1]
    region += val
    if d.clamp is not None:
        np.minimum(region, _F(d.clamp), out=region)


def _support(mu: np.float32, reach: np.float32, size: int) -> tuple[int, int]:
    """[lo, hi) along one axis as the authors' clip-then-truncate (float32; both ends inside the map)."""
    lo = int(min(max(mu - reach, _F(0.0)), _F(size - 1)))
    hi = int(min(max((mu + reach) + _F(1.0), _F(lo + 1)), _F(size)))
    return lo, hi


def local_maxima(fmap: np.ndarray, threshold: float, window: int, strict: bool = True) -> np.ndarray:
    """[M] raster indices of pixels above threshold that are the maximum of their window; one per plateau.

    Tie rule: a pixel must be at least its earlier (raster order) neighbours and above its later ones, so
    of equal neighbours the last in raster order is kept (the pixel the authors' assignment ends up with).
    Computed as value >= max(window) and value > max(later part of the window), with separable running maxima.
    """
    h, w = fmap.shape
    r = window // 2
    padded = np.full((h + 2 * r, w + 2 * r), -np.inf, np.float32)
    padded[r:r + h, r:r + w] = fmap
    rows = padded[:, 0:w].copy()  # max over x - r .. x + r, every padded row
    for dx in range(1, window):
        np.maximum(rows, padded[:, dx:dx + w], out=rows)
    whole = rows[r:r + h].copy()
    below = np.full((h, w), -np.inf, np.float32)  # rows y + 1 .. y + r
    for dy in range(1, r + 1):
        np.maximum(whole, rows[r - dy:r - dy + h], out=whole)
        np.maximum(whole, rows[r + dy:r + dy + h], out=whole)
        np.maximum(below, rows[r + dy:r + dy + h], out=below)
    for dx in range(1, r + 1):  # the same row, x + 1 .. x + r
        np.maximum(below, padded[r:r + h, r + dx:r + dx + w], out=below)
    keep = above(fmap, threshold, strict) & (fmap >= whole) & (fmap > below)
    return np.flatnonzero(keep)


def find_centers(center_map: np.ndarray, d: DecoderSpec) -> tuple[np.ndarray, np.ndarray]:
    """Player centres in raster order: (x, y) float32 [N, 2] and scores [N]; the best max_players by score."""
    idx = local_maxima(center_map, d.keypoint_threshold, d.nms_window, d.strict_thresholds)
    scores = center_map.reshape(-1)[idx]
    if idx.size > d.max_players:
        best = np.argsort(-scores, kind="stable")[: d.max_players]
        idx, scores = idx[np.sort(best)], scores[np.sort(best)]
    w = center_map.shape[1]
    centers = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
    return centers, scores.astype(np.float32)


def nearest_center(xs: np.ndarray, ys: np.ndarray, offset: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Eq. 4's argmin: index of the centre nearest to (pixel + offset) for each pixel; the first on ties."""
    out = np.empty(xs.size, np.int32)
    step = max(1, min(_ASSIGN_CHUNK, _ASSIGN_CELLS // max(1, centers.shape[0])))  # bounded memory, any count
    for a in range(0, xs.size, step):
        x, y = xs[a:a + step], ys[a:a + step]
        tx = x.astype(np.float32) + offset[0, y, x]
        ty = y.astype(np.float32) + offset[1, y, x]
        ddx = centers[None, :, 0] - tx[:, None]
        ddy = centers[None, :, 1] - ty[:, None]
        out[a:a + step] = np.argmin(ddx * ddx + ddy * ddy, axis=1)
    return out


def assign(player: np.ndarray, offset: np.ndarray, centers: np.ndarray, d: DecoderSpec) -> np.ndarray:
    """Eq. 4 on player pixels: int32 labels, 1 + index of the nearest centre (0: background)."""
    labels = np.zeros(player.shape, np.int32)
    if centers.shape[0] == 0:
        return labels
    ys, xs = np.nonzero(above(player, d.player_threshold, d.strict_thresholds))
    check_offsets_read(offset, xs, ys, "player")
    labels[ys, xs] = nearest_center(xs, ys, offset, centers) + 1
    return labels


def poses(fused: np.ndarray, labels: np.ndarray, offset: np.ndarray, centers: np.ndarray,
          d: DecoderSpec) -> np.ndarray:
    """[N, 17, 3] (x, y, score) per centre and body part: its most confident maximum (later wins ties)."""
    n = centers.shape[0]
    out = np.zeros((n, NUM_BODY_PARTS, 3), np.float32)
    w = labels.shape[1]
    maxima = [local_maxima(fused[k], d.keypoint_threshold, d.nms_window, d.strict_thresholds)
              for k in range(NUM_BODY_PARTS)]
    if n and d.keypoint_assignment == "nearest-centre":  # the offsets read at every maximum, as the native core
        every = np.concatenate(maxima)
        check_offsets_read(offset, every % w, every // w, "keypoint")
    for k in range(NUM_BODY_PARTS):
        idx = maxima[k]
        if idx.size == 0 or n == 0:
            continue
        if d.keypoint_assignment == "nearest-centre":
            owner = nearest_center(idx % w, idx // w, offset, centers)
        else:
            owner = labels.reshape(-1)[idx] - 1
        values = fused[k].reshape(-1)[idx]
        for p, j, v in zip(idx.tolist(), owner.tolist(), values.tolist()):
            if j >= 0 and v >= out[j, k, 2]:
                out[j, k] = (p % w, p // w, v)
    return out


def select_players(labels: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                   d: DecoderSpec) -> np.ndarray:
    """Indices of the centres kept (mask and keypoint filters), by score descending, ties in raster order."""
    n = scores.size
    areas = np.bincount(labels.reshape(-1), minlength=n + 1)[1:]
    found = np.count_nonzero(keypoints[:, :, 2] > 0, axis=1) + (scores > 0)
    keep = np.flatnonzero((areas > max(d.discard_mask_pixels, 0)) & (found >= d.min_keypoints))
    return keep[np.argsort(-scores[keep], kind="stable")]


def relabel(labels: np.ndarray, kept: np.ndarray, n: int) -> None:
    """Labels of kept centre kept[i] become i + 1, the others 0 (in place)."""
    lut = np.zeros(n + 1, np.int32)
    lut[kept + 1] = np.arange(1, kept.size + 1, dtype=np.int32)
    labels[...] = lut[labels]


def find_ball(ball_map: np.ndarray) -> Ball | None:
    """Top-1 of the fused ball map (first in raster order); None when the map is all zero."""
    p = int(np.argmax(ball_map))
    score = float(ball_map.reshape(-1)[p])
    if not score > 0.0:
        return None
    w = ball_map.shape[1]
    return Ball(float(p % w), float(p // w), score)


def instance_stats(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [n, 4] (x0, y0, x1 + 1, y1 + 1) float32 and areas [n] int64 of labels 1..n."""
    boxes = np.zeros((n, 4), np.float32)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    areas = np.bincount(lab, minlength=n).astype(np.int64)
    for i in range(n):
        sel = lab == i
        boxes[i] = (xs[sel].min(), ys[sel].min(), xs[sel].max() + 1, ys[sel].max() + 1)
    return boxes, areas


def decode_reference(player: np.ndarray, offset: np.ndarray, pif: np.ndarray, d: DecoderSpec,
                     *, exact: bool | None = None) -> FrameResult:
    """Decode full-resolution player [H, W], offset [2, H, W] and pif [19, 5, Hp, Wp] into a FrameResult."""
    h, w = player.shape
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return (clock[-1] - clock[-2]) * 1e3

    timings: dict[str, float] = {}
    fused = fuse_maps(pif, h, w, d, exact)
    timings["fuse"] = lap()
    centers, scores = find_centers(fused[CENTER], d)
    timings["maxima"] = lap()
    labels = assign(player, offset, centers, d)
    timings["assign"] = lap()
    keypoints = poses(fused, labels, offset, centers, d)
    kept = select_players(labels, keypoints, scores, d)
    relabel(labels, kept, centers.shape[0])
    n = int(kept.size)
    boxes, areas = instance_stats(labels, n)
    timings["poses"] = lap()
    ball = find_ball(fused[BALL])
    timings["ball"] = lap()
    timings["total"] = (clock[-1] - clock[0]) * 1e3
    return FrameResult(labels=labels, keypoints=keypoints[kept], scores=scores[kept], boxes=boxes, areas=areas,
                       centers=centers[kept], ball=ball, timings=timings)
