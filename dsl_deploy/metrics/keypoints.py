"""Pose Estimation Quality (pEQ): OKS-based AP and AR with the COCO definitions, and F1.

COCO keypoint evaluation, reimplemented on arrays (cross-checked against pycocotools in the tests):
OKS thresholds 0.50:0.05:0.95, 101-point interpolated precision, at most 20 detections per image
(the highest scored), area range 'all'. An annotation is ignored (detections matched to it count
nowhere) when it has no labelled keypoint, or when the caller marks it (e.g. outside the court).
The OKS scale (COCO's ``area``) is the annotation's instance mask area in pixels. When a ground
truth has no labelled keypoint, OKS falls back to COCO's distance to its enlarged box, as
pycocotools does. A detected keypoint with a non-finite coordinate contributes 0 to the OKS.

F1 = 2 AP AR / (AP + AR). (The paper's Table 1 prints AP AR / (AP + AR), half of this, e.g.
87.5 and 82.1 -> 42.4; the evaluator reports the usual F1, and that one as F1_paper.)

DeepSport poses (Sec. 4) have 4 keypoints: head, hip, foot 1, foot 2, with the feet interchangeable.
Predicted COCO skeletons are converted: head = middle of the ears, hip = middle of the hips (the
middle of the parts that were found; one found part stands alone; none found leaves the point
undefined), feet = the ankles. The OKS of a prediction-annotation pair is the larger of the two
feet assignments (foot 1/foot 2 = left/right ankle, or right/left). The 4-keypoint sigmas come from
the COCO ones in the spec: head = mean of the ear sigmas, hip = mean of the hip sigmas, feet = the
ankle sigma (0.035, 0.107, 0.089, 0.089 with COCO's values).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..spec import BODY_PARTS, NUM_BODY_PARTS

OKS_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = 20

# DeepSport poses: head (mid-ears), hip (mid-hips), foot1, foot2 (ankles).
_EARS = (BODY_PARTS.index("left_ear"), BODY_PARTS.index("right_ear"))
_HIPS = (BODY_PARTS.index("left_hip"), BODY_PARTS.index("right_hip"))
_ANKLES = (BODY_PARTS.index("left_ankle"), BODY_PARTS.index("right_ankle"))
FEET_SWAP = ((2, 3),)  # the interchangeable pair of the 4-keypoint format


def deepsport_sigmas(sigmas: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """The 4 OKS sigmas (head, hip, foot1, foot2) derived from the 17 COCO sigmas."""
    s = np.asarray(sigmas, np.float64)[:NUM_BODY_PARTS]
    return np.array([(s[_EARS[0]] + s[_EARS[1]]) / 2, (s[_HIPS[0]] + s[_HIPS[1]]) / 2,
                     s[_ANKLES[0]], s[_ANKLES[1]]])


def _middle(kp: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """[N, 3] middle of two parts over those found (score/visibility > 0); NaN position when none is."""
    a, b = kp[:, pair[0]], kp[:, pair[1]]
    wa, wb = (a[:, 2] > 0).astype(np.float64), (b[:, 2] > 0).astype(np.float64)
    n = wa + wb
    out = np.full((kp.shape[0], 3), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, :2] = (a[:, :2] * wa[:, None] + b[:, :2] * wb[:, None]) / n[:, None]
    out[:, 2] = np.maximum(a[:, 2], b[:, 2])
    return out


def to_deepsport(keypoints: np.ndarray) -> np.ndarray:
    """[N, 17, 3] COCO keypoints (x, y, score or visibility) -> [N, 4, 3] head, hip, foot1, foot2."""
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_BODY_PARTS, 3):
        raise InputError(f"keypoints: expected [N, 17, 3], got {kp.shape}")
    out = np.empty((kp.shape[0], 4, 3))
    out[:, 0] = _middle(kp, _EARS)
    out[:, 1] = _middle(kp, _HIPS)
    out[:, 2] = kp[:, _ANKLES[0]]
    out[:, 3] = kp[:, _ANKLES[1]]
    # A point made of no found part has no position; keep visibility 0 there.
    out[np.isnan(out[..., 0]), 2] = 0.0
    return out


def oks_matrix(det: np.ndarray, gt: np.ndarray, areas: np.ndarray, sigmas: np.ndarray, *,
               boxes: np.ndarray | None = None, swap_pairs: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """[D, G] OKS between detections [D, K, >=2] and annotations [G, K, 3] (x, y, visibility).

    `areas` [G] is the OKS scale; `boxes` [G, 4] (x, y, w, h) is needed for annotations without a
    labelled keypoint (COCO's fallback). With `swap_pairs` the OKS is the best over swapping each pair.
    """
    det = np.asarray(det, np.float64)
    gt = np.asarray(gt, np.float64)
    d, g = det.shape[0], gt.shape[0]
    out = np.zeros((d, g))
    if d == 0 or g == 0:
        return out
    k = gt.shape[1]
    sig = np.asarray(sigmas, np.float64)
    if det.shape[1] != k or sig.shape != (k,):
        raise InputError(f"oks: detections have {det.shape[1]} keypoints, annotations {k}, sigmas {sig.shape}")
    var = (2.0 * sig) ** 2
    variants = [det[:, :, :2]]
    for a, b in swap_pairs:
        swapped = det[:, :, :2].copy()
        swapped[:, [a, b]] = swapped[:, [b, a]]
        variants.append(swapped)
    eps = np.spacing(1)
    for j in range(g):
        vis = gt[j, :, 2] > 0
        best = np.zeros(d)
        for xy in variants:
            if vis.any():
                dx = xy[:, :, 0] - gt[j, :, 0]
                dy = xy[:, :, 1] - gt[j, :, 1]
            else:
                if boxes is None:
                    raise InputError("oks: an annotation without labelled keypoints needs its box")
                bx, by, bw, bh = np.asarray(boxes[j], np.float64)
                x0, x1, y0, y1 = bx - bw, bx + 2 * bw, by - bh, by + 2 * bh
                dx = np.maximum(0, x0 - xy[:, :, 0]) + np.maximum(0, xy[:, :, 0] - x1)
                dy = np.maximum(0, y0 - xy[:, :, 1]) + np.maximum(0, xy[:, :, 1] - y1)
            e = (dx ** 2 + dy ** 2) / var / (float(areas[j]) + eps) / 2
            sim = np.exp(-np.where(np.isfinite(e), e, np.inf))
            if vis.any():
                sim = sim[:, vis]
            best = np.maximum(best, sim.sum(axis=1) / sim.shape[1])
        out[:, j] = best
    return out


@dataclass
class OksAccumulator:
    """COCO-style matching per image, accumulated; `summary()` gives AP, AP50, AP75, AR and F1 in [0, 1]."""

    sigmas: np.ndarray
    swap_pairs: tuple[tuple[int, int], ...] = ()
    max_dets: int = MAX_DETS
    _scores: list[np.ndarray] = field(default_factory=list)
    _matched: list[np.ndarray] = field(default_factory=list)  # [T, D] bool per image
    _ignored: list[np.ndarray] = field(default_factory=list)  # [T, D] bool per image
    num_gt: int = 0

    def add(self, det_kps: np.ndarray, det_scores: np.ndarray, gt_kps: np.ndarray, gt_areas: np.ndarray, *,
            gt_ignore: np.ndarray | None = None, gt_boxes: np.ndarray | None = None) -> None:
        """Match one image's detections [D, K, >=2] (scores [D]) to its annotations [G, K, 3]."""
        det_kps = np.asarray(det_kps, np.float64).reshape(-1, len(self.sigmas), np.shape(det_kps)[-1]) \
            if np.size(det_kps) else np.zeros((0, len(self.sigmas), 3))
        det_scores = np.asarray(det_scores, np.float64).ravel()
        gt_kps = np.asarray(gt_kps, np.float64).reshape(-1, len(self.sigmas), 3) \
            if np.size(gt_kps) else np.zeros((0, len(self.sigmas), 3))
        if det_scores.shape[0] != det_kps.shape[0]:
            raise InputError(f"keypoint detections: {det_kps.shape[0]} poses but {det_scores.shape[0]} scores")
        g = gt_kps.shape[0]
        areas = np.asarray(gt_areas, np.float64).ravel()
        if areas.shape[0] != g:
            raise InputError(f"keypoint annotations: {g} poses but {areas.shape[0]} areas")
        ignore = np.zeros(g, bool) if gt_ignore is None else np.asarray(gt_ignore, bool).ravel().copy()
        ignore |= ~(gt_kps[:, :, 2] > 0).any(axis=1)
        # Detections by score (stable, as pycocotools), the best max_dets only.
        order = np.argsort(-det_scores, kind="mergesort")[:self.max_dets]
        det_kps, det_scores = det_kps[order], det_scores[order]
        # Annotations not ignored first: a detection prefers them over ignored ones.
        gorder = np.argsort(ignore, kind="mergesort")
        gt_kps, areas, ignore = gt_kps[gorder], areas[gorder], ignore[gorder]
        boxes = None if gt_boxes is None else np.asarray(gt_boxes, np.float64).reshape(-1, 4)[gorder]
        oks = oks_matrix(det_kps, gt_kps, areas, self.sigmas, boxes=boxes, swap_pairs=self.swap_pairs)
        t, d = len(OKS_THRESHOLDS), det_kps.shape[0]
        matched = np.zeros((t, d), bool)
        det_ignored = np.zeros((t, d), bool)
        for ti, thr in enumerate(OKS_THRESHOLDS):
            taken = np.zeros(g, bool)
            for di in range(d):
                best, m = min(thr, 1 - 1e-10), -1
                for gi in range(g):
                    if taken[gi]:
                        continue
                    if m > -1 and not ignore[m] and ignore[gi]:
                        break
                    if oks[di, gi] < best:
                        continue
                    best, m = oks[di, gi], gi
                if m == -1:
                    continue
                taken[m] = True
                matched[ti, di] = True
                det_ignored[ti, di] = ignore[m]
        self._scores.append(det_scores)
        self._matched.append(matched)
        self._ignored.append(det_ignored)
        self.num_gt += int(np.sum(~ignore))

    def summary(self) -> dict[str, float]:
        """AP (mean over OKS thresholds), AP50, AP75, AR, F1; NaN when no annotation counts."""
        nan = float("nan")
        if self.num_gt == 0:
            return {"AP": nan, "AP50": nan, "AP75": nan, "AR": nan, "F1": nan}
        t = len(OKS_THRESHOLDS)
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        matched = np.concatenate(self._matched, axis=1) if self._matched else np.zeros((t, 0), bool)
        ignored = np.concatenate(self._ignored, axis=1) if self._ignored else np.zeros((t, 0), bool)
        order = np.argsort(-scores, kind="mergesort")
        matched, ignored = matched[:, order], ignored[:, order]
        precision = np.zeros((t, len(RECALL_THRESHOLDS)))
        recall = np.zeros(t)
        for ti in range(t):
            tps = np.cumsum(matched[ti] & ~ignored[ti]).astype(np.float64)
            fps = np.cumsum(~matched[ti] & ~ignored[ti]).astype(np.float64)
            if tps.size == 0:
                continue
            rc = tps / self.num_gt
            pr = tps / (fps + tps + np.spacing(1))
            recall[ti] = rc[-1]
            pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
            idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
            valid = idx < pr.size
            precision[ti, valid] = pr[idx[valid]]
        ap, ar = float(precision.mean()), float(recall.mean())
        i50 = int(np.argmin(np.abs(OKS_THRESHOLDS - 0.5)))
        i75 = int(np.argmin(np.abs(OKS_THRESHOLDS - 0.75)))
        f1 = 2 * ap * ar / (ap + ar) if ap + ar > 0 else 0.0
        return {"AP": ap, "AP50": float(precision[i50].mean()), "AP75": float(precision[i75].mean()),
                "AR": ar, "F1": f1}
