"""The paper protocol against independent re-derivations of its rules on random cases.

Each reference here is written from the rules as stated in the metrics' docstrings, in another form
(scalar loops, per-segment boolean masks, exact rational thresholds, OpenCV's own disc), not from the
vectorised code under test.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from dsl_deploy.metrics.paper import paper_panoptic_counts
from dsl_deploy.metrics.paper_ball import PAPER_BALL_THRESHOLDS, PaperBallAccumulator, heatmap_uint8, in_ball_disc
from dsl_deploy.metrics.paper_pose import PAPER_KAPPAS, PAPER_OKS_THRESHOLDS, PaperPoseAccumulator, paper_oks_matrix
from dsl_deploy.result import Ball


def _scalar_oks(gt: list, det: list) -> float:
    """OKS of one pair by the rule, point by point with the math module; None for undefined."""
    xs, ys = [p[0] for p in gt], [p[1] for p in gt]
    s = (max(xs) - min(xs)) * (max(ys) - min(ys))

    def sim(a, b, kappa):
        if b is None:
            return None
        d = math.dist(a, b)
        if s == 0:
            return None if d == 0 else 0.0
        return math.exp(-d / (2 * s * kappa * kappa))

    def mean(values):
        vals = [v for v in values if v is not None]
        return sum(vals) / len(vals) if vals else None

    head, hip = sim(gt[0], det[0], PAPER_KAPPAS[0]), sim(gt[1], det[1], PAPER_KAPPAS[1])
    if gt[2] == gt[3]:
        return mean([head, hip])
    straight = mean([head, hip, sim(gt[2], det[2], PAPER_KAPPAS[2]), sim(gt[3], det[3], PAPER_KAPPAS[3])])
    crossed = mean([head, hip, sim(gt[2], det[3], PAPER_KAPPAS[2]), sim(gt[3], det[2], PAPER_KAPPAS[3])])
    if straight is None:
        return None
    return crossed if crossed is not None and crossed > straight else straight


def _random_poses(rng: np.random.Generator, n: int, undefined: float) -> np.ndarray:
    base = rng.uniform(0, 300, (n, 1, 2))
    pts = base + rng.normal(0, 40, (n, 4, 2))
    pts[rng.random((n, 4)) < undefined] = np.nan
    return pts


def test_oks_matches_a_scalar_rederivation() -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        gt = _random_poses(rng, int(rng.integers(1, 5)), 0.0)
        same = rng.random(gt.shape[0]) < 0.25
        gt[same, 3] = gt[same, 2]
        det = _random_poses(rng, int(rng.integers(1, 6)), 0.2)
        # Some predictions near an annotation, so that the similarities are not all ~0.
        near = min(len(det), len(gt))
        det[:near] = np.where(np.isnan(det[:near]), np.nan, gt[:near] + rng.normal(0, 8, (near, 4, 2)))
        got = paper_oks_matrix(gt, det)
        for j in range(len(gt)):
            for i in range(len(det)):
                ref = _scalar_oks([tuple(p) for p in gt[j]],
                                  [None if np.isnan(p).any() else tuple(p) for p in det[i]])
                if ref is None:
                    assert np.isnan(got[j, i])
                else:
                    assert got[j, i] == pytest.approx(ref, rel=1e-12, abs=1e-15)


def test_pose_measures_match_a_loop_rederivation() -> None:
    rng = np.random.default_rng(2)
    acc = PaperPoseAccumulator()
    tp, n_pred, n_gt = [0] * 10, 0, 0
    for _ in range(30):
        gt = _random_poses(rng, int(rng.integers(0, 4)), 0.0)
        det = _random_poses(rng, int(rng.integers(0, 5)), 0.15)
        near = min(len(det), len(gt))
        det[:near] = np.where(np.isnan(det[:near]), np.nan, gt[:near] + rng.normal(0, 6, (near, 4, 2)))
        kp = np.zeros((len(det), 17, 3))
        for k, idx in ((0, (3, 4)), (1, (11, 12)), (2, (15,)), (3, (16,))):
            for i in idx:
                kp[:, i, :2] = np.nan_to_num(det[:, k], nan=0.0)
                kp[:, i, 2] = np.where(np.isnan(det[:, k, 0]), 0.0, 0.8)
        acc.add(kp, np.concatenate([gt, np.full(gt.shape[:2] + (1,), 2.0)], axis=2), pose_format="deepsport")
        # The rule in words: annotations in order take the free prediction of highest OKS (taken = 0).
        taken = [None] * len(det)
        for j in range(len(gt)):
            if not det.shape[0] or all(t is not None for t in taken):
                break
            values = [0.0 if taken[i] is not None else _scalar_oks([tuple(p) for p in gt[j]], [
                None if np.isnan(p).any() else tuple(p) for p in det[i]]) for i in range(len(det))]
            defined = [(v, -i) for i, v in enumerate(values) if v is not None]
            if not defined:
                continue
            best, neg_i = max(defined)
            taken[-neg_i] = j
            true_oks = _scalar_oks([tuple(p) for p in gt[j]],
                                   [None if np.isnan(p).any() else tuple(p) for p in det[-neg_i]])
            for k, t in enumerate(PAPER_OKS_THRESHOLDS):
                tp[k] += true_oks is not None and true_oks >= t
        n_pred += len(det)  # no court here: every prediction is kept
        n_gt += len(gt)
    s = acc.summary()
    assert acc.tp.tolist() == tp and sum(tp) > 20  # enough matches above the thresholds to mean something
    assert s["AP"] == pytest.approx(np.mean(np.array(tp) / n_pred))
    assert s["AR"] == pytest.approx(np.mean(np.array(tp) / n_gt))


def _mask_counts(pred, gt, keep, crowd, min_pixels=10):
    """TP, FP, FN, IoU sum from boolean masks of each segment."""
    segs = [gt == v for v in range(1, int(gt.max()) + 1)]
    if crowd is not None:
        segs.append(crowd & (gt == 0))
    segs = [m for m in segs if m.sum() >= min_pixels]
    preds = [pred == v for v in range(1, int(pred.max()) + 1) if keep[v - 1]]
    preds = [m for m in preds if m.any()]
    tp, iou_sum, hit_g, hit_p = 0, 0.0, set(), set()
    for a, g in enumerate(segs):
        for b, p in enumerate(preds):
            iou = (g & p).sum() / (g | p).sum()
            if iou > 0.5:
                tp, iou_sum = tp + 1, iou_sum + iou
                hit_g.add(a)
                hit_p.add(b)
    return tp, len(preds) - len(hit_p), len(segs) - len(hit_g), iou_sum


def test_segments_match_a_boolean_mask_rederivation() -> None:
    rng = np.random.default_rng(3)
    totals = np.zeros(3, int)
    for _ in range(40):
        h, w = 30, 40
        gt = np.zeros((h, w), np.int32)
        for v in range(1, int(rng.integers(1, 6))):
            y, x = rng.integers(0, h - 2), rng.integers(0, w - 2)
            gt[y:y + rng.integers(2, 15), x:x + rng.integers(2, 15)] = v
        gt = np.unique(gt, return_inverse=True)[1].reshape(h, w).astype(np.int32)  # compact labels
        crowd = None
        if rng.random() < 0.5:
            crowd = np.zeros((h, w), bool)
            crowd[rng.integers(0, h):, rng.integers(0, w):] = True
        pred = gt.copy()
        pred[rng.random((h, w)) < 0.15] = 0
        shift = rng.integers(-3, 4, 2)
        pred = np.roll(pred, tuple(shift), axis=(0, 1))
        pred[rng.integers(0, h - 5):, :3] = pred.max() + 1  # an extra prediction
        keep = rng.random(int(pred.max())) < 0.8
        c = paper_panoptic_counts(pred, gt, keep=keep, crowd=crowd)
        tp, fp, fn, iou_sum = _mask_counts(pred, gt, keep, crowd)
        assert (c.tp, c.fp, c.fn) == (tp, fp, fn) and c.iou_sum == pytest.approx(iou_sum)
        totals += (tp, fp, fn)
    assert (totals > 10).all()  # matches, false positives and misses all occur


def test_thresholds_in_float32_equal_exact_fractions() -> None:
    # score q/255 "above" threshold k/20, as their float32 tensors compare it, is the exact comparison.
    for q in range(256):
        acc = PaperBallAccumulator()
        acc.add(Ball(0.0, 0.0, q / 255 + 1e-12 if q else 0.0), None)
        exact = [Fraction(q, 255) > Fraction(k, 20) for k in range(21)]
        assert acc.fp.astype(bool).tolist() == exact and heatmap_uint8(q / 255) == q
    assert PAPER_BALL_THRESHOLDS.tolist() == pytest.approx([k / 20 for k in range(21)])


def test_disc_matches_opencv_and_auc_matches_the_polyline() -> None:
    import cv2

    rng = np.random.default_rng(4)
    for _ in range(30):
        x, y, r = rng.uniform(10, 60), rng.uniform(10, 60), rng.uniform(0.5, 9.5)
        target = np.zeros((80, 80), np.uint8)
        cv2.circle(target, (int(x), int(y)), int(r), 1, -1)  # their AddBallSegmentationTargetViewFactory
        ys, xs = np.mgrid[:80, :80]
        ours = np.vectorize(lambda px, py: in_ball_disc(px, py, (x, y, r)))(xs, ys)
        np.testing.assert_array_equal(ours, target.astype(bool))
    acc = PaperBallAccumulator()
    frames = []
    for _ in range(200):
        has_ball, hit, score = rng.random() < 0.7, rng.random() < 0.6, float(rng.random())
        gt = (30.0, 30.0, 4.0) if has_ball else None
        det = None if rng.random() < 0.1 else Ball(30.0 if hit else 60.0, 30.0, score)
        acc.add(det, gt)
        frames.append((has_ball, det is not None and has_ball and hit, 0 if det is None else heatmap_uint8(score)))
    pos = sum(f[0] for f in frames)
    pts = [(0.0, 0.0)]
    for k in range(20, -1, -1):
        above = [f for f in frames if Fraction(f[2], 255) > Fraction(k, 20)]
        pts.append((sum(1 for f in above if not f[1]) / len(frames), sum(1 for f in above if f[1]) / pos))
    pts.append((1.0, 1.0))
    area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(pts, pts[1:]))
    assert acc.bdq() == pytest.approx(area) and 0.3 < area < 1.0
