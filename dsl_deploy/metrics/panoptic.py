"""Player Segmentation Quality (pSQ) and Detection Quality (pDQ): the SQ and RQ terms of Panoptic Quality
(Kirillov et al.) restricted to the player class, accumulated over a dataset.

Rules, per frame (predicted label map and ground-truth instance map, both int [H, W], 0 = background):

- Void: the annotation's ``ignore`` pixels. They are removed from the ground-truth segments, and the
  IoU of a pair leaves out the predicted pixels that fall in void: IoU = |p & g| / (|p| + |g| - |p & g|
  - |p & void|), as the PQ reference code does.
- Matching: a prediction and an annotation match when their IoU is > 0.5 (such a match is unique).
- An unmatched prediction whose pixels lie more than half in void is ignored, not a false positive.
- Court (``Annotation.court``): an instance is on the court when its foot point lies on a court pixel.
  The foot point is the middle of the instance's lowest row of pixels: players stand on the floor,
  and their heads often project outside the court polygon near the far side, so a centroid or
  majority rule would drop players who are in play. Matching is done on every instance first; then
  a matched pair counts when its annotation is on the court, an unmatched annotation counts as a
  false negative when it is on the court, an unmatched prediction counts as a false positive when it
  is on the court. Instances outside are discarded (they count nowhere). ``court_rule`` can be
  'foot' (default), 'centroid' or 'majority' (more than half of the pixels on the court).

Over the dataset: pSQ = sum of the IoUs of true positives / TP, pDQ = TP / (TP + FP/2 + FN/2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

COURT_RULES = ("foot", "centroid", "majority")


def _check_map(name: str, labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name}: expected an integer [H, W] label map, got {arr.dtype} {arr.shape}")
    if arr.size and int(arr.min()) < 0:
        raise InputError(f"{name}: label values must be >= 0 (0 = background)")
    return arr.astype(np.int64, copy=False)


def on_court(labels: np.ndarray, court: np.ndarray | None, count: int, rule: str = "foot") -> np.ndarray:
    """[count] bool: whether instance i (label i + 1) is on the court by `rule`; all True without a court."""
    if rule not in COURT_RULES:
        raise InputError(f"court_rule: {rule!r} is not one of {', '.join(COURT_RULES)}")
    out = np.ones(count, bool)
    if court is None or count == 0:
        return out
    court = np.asarray(court, bool)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    keep = lab < count
    ys, xs, lab = ys[keep], xs[keep], lab[keep]
    npix = np.bincount(lab, minlength=count)
    if rule == "majority":
        inside = np.bincount(lab, court[ys, xs].astype(np.float64), minlength=count)
        return np.where(npix > 0, inside * 2 > npix, False)
    if rule == "centroid":
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = np.bincount(lab, xs, minlength=count) / npix
            cy = np.bincount(lab, ys, minlength=count) / npix
    else:
        bottom = np.full(count, -1, np.int64)
        np.maximum.at(bottom, lab, ys)
        low = ys == bottom[lab]
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = np.bincount(lab[low], xs[low], minlength=count) / np.bincount(lab[low], minlength=count)
        cy = bottom.astype(np.float64)
    for i in range(count):
        if npix[i] == 0:
            out[i] = False
            continue
        x, y = int(round(cx[i])), int(round(cy[i]))
        x = min(max(x, 0), court.shape[1] - 1)
        y = min(max(y, 0), court.shape[0] - 1)
        out[i] = bool(court[y, x])
    return out


@dataclass
class PanopticCounts:
    """Per-frame or accumulated PQ counts for the player class."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_sum: float = 0.0

    def __iadd__(self, other: "PanopticCounts") -> "PanopticCounts":
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_sum += other.iou_sum
        return self

    @property
    def sq(self) -> float:
        """Segmentation quality in [0, 1]: mean IoU of matched pairs; NaN without any match."""
        return self.iou_sum / self.tp if self.tp else float("nan")

    @property
    def dq(self) -> float:
        """Detection (recognition) quality in [0, 1]; NaN when there is nothing to detect nor detected."""
        den = self.tp + 0.5 * self.fp + 0.5 * self.fn
        return self.tp / den if den else float("nan")

    @property
    def pq(self) -> float:
        """Panoptic quality SQ x DQ (0 when there is no match but something to find)."""
        if self.tp == 0:
            return 0.0 if (self.fp or self.fn) else float("nan")
        return self.sq * self.dq


def panoptic_counts(pred: np.ndarray, gt: np.ndarray, *, ignore: np.ndarray | None = None,
                    court: np.ndarray | None = None, court_rule: str = "foot") -> PanopticCounts:
    """PQ counts of one frame: predicted label map vs ground-truth instance map, with void and court."""
    p = _check_map("predicted labels", pred)
    g = _check_map("ground-truth instances", gt)
    if p.shape != g.shape:
        raise InputError(f"predicted labels have shape {p.shape} but the annotation is {g.shape}; "
                         "both must be in the same (frame) pixels")
    for name, m in (("ignore", ignore), ("court", court)):
        if m is not None and np.shape(m) != g.shape:
            raise InputError(f"{name} mask has shape {np.shape(m)}, expected {g.shape}")
    void = np.zeros(g.shape, bool) if ignore is None else np.asarray(ignore, bool)
    g = np.where(void, 0, g)
    n_pred, n_gt = int(p.max(initial=0)), int(g.max(initial=0))
    pred_area = np.bincount(p.ravel(), minlength=n_pred + 1)[1:]
    gt_area = np.bincount(g.ravel(), minlength=n_gt + 1)[1:]
    pred_void = np.bincount(p[void], minlength=n_pred + 1)[1:]
    # Joint histogram of (gt, pred) labels: one pass, no per-instance masks.
    joint = np.bincount((g * (n_pred + 1) + p).ravel(), minlength=(n_gt + 1) * (n_pred + 1))
    inter = joint.reshape(n_gt + 1, n_pred + 1)[1:, 1:].astype(np.float64)
    union = gt_area[:, None] + pred_area[None, :] - inter - pred_void[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    match = iou > 0.5
    gt_in = on_court(g, court, n_gt, court_rule)
    pred_in = on_court(p, court, n_pred, court_rule)
    counts = PanopticCounts()
    gi, pi = np.nonzero(match)
    for a, b in zip(gi, pi):
        if gt_in[a]:
            counts.tp += 1
            counts.iou_sum += float(iou[a, b])
    gt_matched = match.any(axis=1)
    pred_matched = match.any(axis=0)
    present_gt = gt_area > 0
    counts.fn = int(np.sum(present_gt & ~gt_matched & gt_in))
    mostly_void = pred_void * 2 > pred_area
    present_pred = pred_area > 0
    counts.fp = int(np.sum(present_pred & ~pred_matched & ~mostly_void & pred_in))
    return counts
