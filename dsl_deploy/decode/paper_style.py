"""The paper-style decoder: Sec. 3.4 done the way the authors' Python code does it, the benchmark peer.

Dense everywhere: each seed splats a Gaussian patch, local maxima come from a max-pool over every
pixel of every full-resolution map, and Eq. 4 builds one full-frame distance map per instance before
an argmin over all pixels. It decodes the same fields to (nearly) the same answer as the contract
decoders; it exists to measure what the native core is compared against, not to be used.
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np

from ..result import Ball, FrameResult
from ..spec import BALL, CENTER, NUM_BODY_PARTS, NUM_TYPES, ModelSpec
from .fields import check_finite, full_resolution


def splat_all(pif: np.ndarray, height: int, width: int, spec: ModelSpec) -> np.ndarray:
    """Eq. 3 by Gaussian patches, float64, OpenPifPaf's truncated convention."""
    d = spec.decoder
    fused = np.zeros((NUM_TYPES, height, width), np.float64)
    for k in range(NUM_TYPES):
        c, x, y, _, s = pif[k].astype(np.float64)
        for j, i in zip(*np.nonzero(c >= d.seed_threshold)):
            sig = max(s[j, i], d.sigma_min)
            cx, cy = x[j, i], y[j, i]
            x0 = int(np.clip(np.floor(cx - d.truncate * sig), 0, width - 1))
            x1 = int(np.clip(np.floor(cx + d.truncate * sig) + 1, x0 + 1, width))
            y0 = int(np.clip(np.floor(cy - d.truncate * sig), 0, height - 1))
            y1 = int(np.clip(np.floor(cy + d.truncate * sig) + 1, y0 + 1, height))
            yy, xx = np.mgrid[y0:y1, x0:x1]
            d2 = (xx - cx) ** 2 + (yy - cy) ** 2
            w = np.exp(-d2 / (2 * sig * sig))
            w[((xx - cx) ** 2 < 0.25) & ((yy - cy) ** 2 < 0.25)] = 1.0
            fused[k, y0:y1, x0:x1] += c[j, i] / d.weight_divisor * w
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


def maxpool_peaks(fmap: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """[M, 2] (y, x) of pixels equal to the max of their window (a max-pool over the whole map)."""
    return np.argwhere((fmap == maxpool(fmap, window)) & (fmap >= threshold))


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
        timings = {"fuse": 0.0}
        fused = splat_all(pif, h, w, self.spec)
        timings["fuse"] = lap()
        peaks = [maxpool_peaks(fused[k], d.keypoint_threshold, d.nms_window) for k in range(NUM_TYPES)]
        cpk = peaks[CENTER]
        cscore = fused[CENTER][cpk[:, 0], cpk[:, 1]]
        order = np.argsort(-cscore, kind="stable")[: d.max_players]
        cpk, cscore = cpk[order], cscore[order]
        timings["maxima"] = lap()
        labels = np.zeros((h, w), np.int32)
        n = 0
        if len(cpk):
            ys, xs = np.mgrid[0:h, 0:w]
            tx, ty = xs + offset[0], ys + offset[1]
            dist = np.stack([(tx - cx) ** 2 + (ty - cy) ** 2 for cy, cx in cpk])  # one full map per instance
            labels = np.where(player >= d.player_threshold, dist.argmin(axis=0) + 1, 0).astype(np.int32)
            present = [j for j in range(len(cpk)) if (labels == j + 1).any()]
            remap = np.zeros(len(cpk) + 1, np.int32)
            remap[np.array(present, int) + 1] = np.arange(1, len(present) + 1)
            labels = remap[labels]
            cpk, cscore, n = cpk[present], cscore[present], len(present)
        boxes = np.zeros((n, 4), np.float32)
        areas = np.zeros((n,), np.int64)
        for i in range(n):
            mask = labels == i + 1
            rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
            areas[i] = mask.sum()
        timings["assign"] = lap()
        keypoints = np.zeros((n, NUM_BODY_PARTS, 3), np.float32)
        for k in range(NUM_BODY_PARTS):
            for y, x in peaks[k]:
                lab = labels[y, x]
                if lab > 0 and fused[k, y, x] > keypoints[lab - 1, k, 2]:
                    keypoints[lab - 1, k] = (x, y, fused[k, y, x])
        timings["poses"] = lap()
        p = int(np.argmax(fused[BALL]))
        score = float(fused[BALL].reshape(-1)[p])
        ball = Ball(float(p % w), float(p // w), score) if score > 0 else None
        timings["ball"] = lap()
        timings["total"] = (t[-1] - t[0]) * 1e3
        return FrameResult(labels=labels, keypoints=keypoints, scores=cscore.astype(np.float32), boxes=boxes,
                           areas=areas, centers=cpk[:, ::-1].astype(np.float32), ball=ball, timings=timings)
