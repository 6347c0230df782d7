"""The paper-style decoder: Sec. 3.4 the way the authors' Python decodes (their CifPanBall), the benchmark peer
(not one of the contract decoders of dsl_deploy.decode: it lives with the benchmarks).

Dense everywhere, as their code: each seed splats its Gaussian patch with their scalar arithmetic (float64
steps included), local maxima come from a max-pool over every pixel of every map (every tied pixel kept),
Eq. 4 builds a float64 distance map per centre over the whole frame before an argmin, keypoints are sorted
by confidence and written over each other, and the players are filtered last. Two places where the contract
decoders deliberately differ: tied maxima (the contract keeps one per plateau), and the ball (their code
returns nothing at all on a frame without a player centre; the contract still reports the ball).
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np

from ..decode.fields import check_finite, full_resolution
from ..result import Ball, FrameResult
from ..spec import BALL, CENTER, NUM_BODY_PARTS, NUM_TYPES, DecoderSpec, ModelSpec


def _gauss_weight(dist2: np.ndarray, s2: np.float32, d: DecoderSpec) -> np.ndarray:
    """exp(-dist2 / 2 s2) with the float64 steps of the authors' Cython, rounded to float32 where they are."""
    e = ((-0.5 * dist2.astype(np.float64)) / np.float64(s2)).astype(np.float32)
    if d.gaussian != "approx":
        return np.exp(e.astype(np.float64)).astype(np.float32)
    a = (1.0 + e.astype(np.float64) / 8.0).astype(np.float32)
    a = a * a
    a = a * a
    a = a * a
    return np.where((e > 2.0) | (e < -2.0), np.float32(0.0), a)


def splat_all(pif: np.ndarray, height: int, width: int, spec: ModelSpec) -> np.ndarray:
    """Eq. 3 patch by patch: clip-then-truncate bounds, disc test, nearest pixel at full value, clamp."""
    d = spec.decoder
    f32 = np.float32
    fused = np.zeros((NUM_TYPES, height, width), np.float32)
    t = f32(d.truncate)
    for k in range(NUM_TYPES):
        c, x, y, _, s = pif[k]
        sel = c > f32(d.seed_threshold) if d.strict_thresholds else c >= f32(d.seed_threshold)
        for v, cx, cy, sig in zip(c[sel] / f32(d.weight_divisor), x[sel], y[sel], np.maximum(f32(d.sigma_min), s[sel])):
            reach = t * sig
            x0 = int(np.clip(cx - reach, 0, width - 1))
            x1 = int(np.clip(f32(np.float64(cx + reach) + 1.0), x0 + 1, width))
            y0 = int(np.clip(cy - reach, 0, height - 1))
            y1 = int(np.clip(f32(np.float64(cy + reach) + 1.0), y0 + 1, height))
            dx2 = np.square(np.arange(x0, x1, dtype=np.float32) - cx)[None, :]
            dy2 = np.square(np.arange(y0, y1, dtype=np.float32) - cy)[:, None]
            dist2 = dx2 + dy2
            s2 = sig * sig
            val = np.where((dx2 < 0.25) & (dy2 < 0.25), v, v * _gauss_weight(dist2, s2, d))
            if d.support == "disc":
                val = np.where(dist2 > (t * t) * s2, f32(0.0), val)
            patch = fused[k, y0:y1, x0:x1]
            patch += val
            if d.clamp is not None:
                np.minimum(patch, f32(d.clamp), out=patch)
    return fused


def maxpool(fmap: np.ndarray, window: int) -> np.ndarray:
    """Max over each pixel's window (stride 1, -inf padding): a separable running max over the whole map."""
    r = window // 2
    h, w = fmap.shape
    padded = np.pad(fmap, r, mode="constant", constant_values=-np.inf)
    rows = padded[:, 0:w].copy()
    for dx in range(1, window):
        np.maximum(rows, padded[:, dx:dx + w], out=rows)
    out = rows[0:h].copy()
    for dy in range(1, window):
        np.maximum(out, rows[dy:dy + h], out=out)
    return out


def maxpool_peaks(fmap: np.ndarray, d: DecoderSpec) -> np.ndarray:
    """[M, 2] (y, x) of pixels equal to the max of their window and above the threshold (ties all kept)."""
    above = fmap > np.float32(d.keypoint_threshold) if d.strict_thresholds else fmap >= np.float32(d.keypoint_threshold)
    return np.argwhere((fmap == maxpool(fmap, d.nms_window)) & above)


class PaperStyleDecoder:
    """Callable fields -> FrameResult, dense NumPy throughout (the peer of the benchmarks)."""

    def __init__(self, spec: ModelSpec) -> None:
        spec.validate()
        self.spec = spec

    def __call__(self, fields: Mapping[str, np.ndarray]) -> FrameResult:
        """Decode one frame's ready fields."""
        d = self.spec.decoder
        t = [time.perf_counter()]

        def lap() -> float:
            t.append(time.perf_counter())
            return (t[-1] - t[-2]) * 1e3

        player, offset, pif = full_resolution(fields, self.spec)
        check_finite(player=player, offset=offset, pif=pif)
        h, w = player.shape
        fused = splat_all(pif, h, w, self.spec)
        timings = {"fuse": lap()}
        peaks = [maxpool_peaks(fused[k], d) for k in range(NUM_TYPES)]
        centres = peaks[CENTER]
        timings["maxima"] = lap()
        n = len(centres)
        instances = np.zeros((h, w), np.int64)
        if n:
            grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"))  # (y, x)
            target = offset[::-1].astype(np.float64) + grid  # the authors' offsets are (dy, dx)
            distances = np.square(target[None] - centres[:, :, None, None]).sum(axis=1)  # [N, H, W]
            instances = distances.argmin(axis=0)
        is_player = player > np.float32(d.player_threshold) if d.strict_thresholds \
            else player >= np.float32(d.player_threshold)
        timings["assign"] = lap()
        keypoints = np.zeros((n, NUM_BODY_PARTS, 3), np.float32)
        found = [(float(fused[k, y, x]), k, int(y), int(x)) for k in range(NUM_BODY_PARTS) for y, x in peaks[k]]
        for v, k, y, x in sorted(found, key=lambda item: item[0]) if n else ():  # least confident first
            j = int(instances[y, x]) if d.keypoint_assignment == "nearest-centre" else -1
            if d.keypoint_assignment != "nearest-centre" and is_player[y, x]:
                j = int(instances[y, x])
            if j >= 0:
                keypoints[j, k] = (x, y, v)
        scores = np.array([fused[CENTER, y, x] for y, x in centres], np.float32)
        masks = [is_player & (instances == j) for j in range(n)]
        kept = [j for j in range(n) if np.count_nonzero(masks[j]) > d.discard_mask_pixels
                and np.count_nonzero(keypoints[j, :, 2]) + (scores[j] != 0) >= d.min_keypoints]
        kept.sort(key=lambda j: -scores[j])
        labels = np.zeros((h, w), np.int32)
        for i, j in enumerate(kept):
            labels[masks[j]] = i + 1
        boxes = np.zeros((len(kept), 4), np.float32)
        areas = np.zeros((len(kept),), np.int64)
        for i, j in enumerate(kept):
            rows, cols = np.nonzero(masks[j].any(axis=1))[0], np.nonzero(masks[j].any(axis=0))[0]
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
            areas[i] = np.count_nonzero(masks[j])
        timings["poses"] = lap()
        p = int(np.argmax(fused[BALL]))
        score = float(fused[BALL].reshape(-1)[p])
        ball = Ball(float(p % w), float(p // w), score) if score > 0 else None
        timings["ball"] = lap()
        timings["total"] = (t[-1] - t[0]) * 1e3
        centres_xy = centres[kept][:, ::-1].astype(np.float32) if n else np.zeros((0, 2), np.float32)
        return FrameResult(labels=labels, keypoints=keypoints[kept], scores=scores[kept] if n else scores,
                           boxes=boxes, areas=areas, centers=centres_xy, ball=ball, timings=timings)
