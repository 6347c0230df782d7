"""NumPy reference decoder: the decode contract of docs/architecture.md, stage by stage; the oracle of the tests.

Arithmetic is chosen so that the C++ core can reproduce it bit for bit: the weight is separable,
float32(exp(-dx^2/2s^2)) * float32(exp(-dy^2/2s^2)) with each exp in float64, every other quantity is
float32, and seeds accumulate in raster order of the PIF grid.
"""
from __future__ import annotations

import time

import numpy as np

from ..result import Ball, FrameResult
from ..spec import BALL, CENTER, NUM_BODY_PARTS, NUM_TYPES, DecoderSpec


def _f32(v: float) -> np.float32:
    return np.float32(v)


def _splat_weights(lo: int, hi: int, mu: np.float32, two_s2: float) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances (float64) and 1-D Gaussian factors (exp in float64, rounded to float32) of lo..hi-1."""
    d = np.arange(lo, hi, dtype=np.float64) - float(mu)
    d2 = d * d
    return d2, np.exp(-d2 / two_s2).astype(np.float32)


def fuse_maps(pif: np.ndarray, height: int, width: int, d: DecoderSpec, exact: bool | None = None) -> np.ndarray:
    """Eq. 3: splat every PIF seed of every type onto float32 [19, height, width] maps."""
    exact = d.exact if exact is None else exact
    fused = np.zeros((NUM_TYPES, height, width), np.float32)
    t, smin, div = _f32(d.truncate), _f32(d.sigma_min), _f32(d.weight_divisor)
    for k in range(NUM_TYPES):
        conf = pif[k, 0]
        js, is_ = np.nonzero(conf >= _f32(d.seed_threshold))  # raster order of the grid
        for j, i in zip(js.tolist(), is_.tolist()):
            c, x, y, s = conf[j, i], pif[k, 1, j, i], pif[k, 2, j, i], pif[k, 4, j, i]
            s = max(s, smin)
            two_s2 = 2.0 * float(s) * float(s)
            if exact:
                v, x0, x1, y0, y1 = c, 0, width, 0, height
            else:
                v = c / div
                x0, x1 = _support(x, t * s, width)
                y0, y1 = _support(y, t * s, height)
            dx2, ex = _splat_weights(x0, x1, x, two_s2)
            dy2, ey = _splat_weights(y0, y1, y, two_s2)
            w = ey[:, None] * ex[None, :]  # float32 product of float32 factors
            if not exact:
                w[np.ix_(dy2 < 0.25, dx2 < 0.25)] = 1.0  # the nearest pixel gets the full value
            fused[k, y0:y1, x0:x1] += v * w
    return fused


def _support(mu: np.float32, reach: np.float32, size: int) -> tuple[int, int]:
    """Truncated support [lo, hi) of a splat along one axis (float32 arithmetic, as the C++ core)."""
    lo = int(min(max(np.floor(mu - reach), 0.0), size - 1))
    hi = int(min(max(np.floor(mu + reach) + _f32(1.0), float(lo + 1)), float(size)))
    return lo, hi


def local_maxima(fmap: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """[M] raster indices of the pixels >= threshold that are the maximum of their window (first wins ties)."""
    h, w = fmap.shape
    r = window // 2
    padded = np.full((h + 2 * r, w + 2 * r), -np.inf, np.float32)
    padded[r:r + h, r:r + w] = fmap
    keep = fmap >= _f32(threshold)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            nb = padded[r + dy:r + dy + h, r + dx:r + dx + w]
            earlier = dy < 0 or (dy == 0 and dx < 0)
            keep &= (fmap > nb) if earlier else (fmap >= nb)
    return np.flatnonzero(keep)


def find_centers(center_map: np.ndarray, d: DecoderSpec) -> tuple[np.ndarray, np.ndarray]:
    """Player centres: (x, y) float32 [N, 2] and scores [N], by score descending, ties in raster order."""
    idx = local_maxima(center_map, d.keypoint_threshold, d.nms_window)
    scores = center_map.reshape(-1)[idx]
    order = np.argsort(-scores, kind="stable")[: d.max_players]
    idx = idx[order]
    w = center_map.shape[1]
    centers = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
    return centers, scores[order].astype(np.float32)


def assign(player: np.ndarray, offset: np.ndarray, centers: np.ndarray, threshold: float) -> np.ndarray:
    """Eq. 4: int32 labels, 1 + index of the centre nearest to pixel + offset, on player pixels."""
    h, w = player.shape
    labels = np.zeros((h, w), np.int32)
    if centers.shape[0] == 0:
        return labels
    ys, xs = np.nonzero(player >= _f32(threshold))
    tx = xs.astype(np.float32) + offset[0, ys, xs]
    ty = ys.astype(np.float32) + offset[1, ys, xs]
    ddx = centers[None, :, 0] - tx[:, None]
    ddy = centers[None, :, 1] - ty[:, None]
    dist = ddx * ddx + ddy * ddy
    labels[ys, xs] = np.argmin(dist, axis=1).astype(np.int32) + 1  # argmin takes the lowest j on ties
    return labels


def renumber(labels: np.ndarray, n: int) -> np.ndarray:
    """Drop instances without pixels, renumber the rest 1..M in their order; return the kept old indices."""
    counts = np.bincount(labels.reshape(-1), minlength=n + 1)[1:]
    kept = np.flatnonzero(counts > 0)
    lut = np.zeros(n + 1, np.int32)
    lut[kept + 1] = np.arange(1, kept.size + 1, dtype=np.int32)
    labels[...] = lut[labels]
    return kept


def poses(fused: np.ndarray, labels: np.ndarray, n: int, d: DecoderSpec) -> np.ndarray:
    """[n, 17, 3] (x, y, score): per player and body part, the strongest maximum on that player's pixels."""
    out = np.zeros((n, NUM_BODY_PARTS, 3), np.float32)
    w = labels.shape[1]
    for k in range(NUM_BODY_PARTS):
        fmap = fused[k].reshape(-1)
        for p in local_maxima(fused[k], d.keypoint_threshold, d.nms_window).tolist():
            lab = int(labels.reshape(-1)[p])
            if lab > 0 and fmap[p] > out[lab - 1, k, 2]:
                out[lab - 1, k] = (p % w, p // w, fmap[p])
    return out


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
    labels = assign(player, offset, centers, d.player_threshold)
    kept = renumber(labels, centers.shape[0])
    centers, scores = centers[kept], scores[kept]
    n = int(kept.size)
    boxes, areas = instance_stats(labels, n)
    timings["assign"] = lap()
    keypoints = poses(fused, labels, n, d)
    timings["poses"] = lap()
    ball = find_ball(fused[BALL])
    timings["ball"] = lap()
    timings["total"] = (clock[-1] - clock[0]) * 1e3
    return FrameResult(labels=labels, keypoints=keypoints, scores=scores, boxes=boxes, areas=areas,
                       centers=centers, ball=ball, timings=timings)
