"""Ball Detection Quality (bDQ): the area under the ROC curve of the top-1 ball detection, as BallSeg.

Every frame gives one top-1 detection (x, y, score) or none. The frames become ROC samples:

- a frame with an annotated ball (x, y, r) gives one positive sample. Its score is the detection's
  score when the detection lies within ``max(tp_radii * r, tp_min_px)`` pixels of the ball centre
  (default: within one radius, and never stricter than 5 px, because a decoded maximum sits on the
  pixel grid and a small ball would otherwise be missed by rounding alone). Otherwise the ball is
  missed at every threshold (score -inf).
- a frame whose detection is not a hit (no ball in the frame, or a ball too far from the detection)
  gives one negative sample with the detection's score: above the threshold it is a false positive.
  A frame without a ball and without a detection is a negative at -inf (never a false positive).

At threshold t: TPR(t) = #positives with score >= t / #positives and FPR(t) = #negatives with
score >= t / #negatives. The curve runs from (0, 0) to (1, 1) over every distinct score (-inf
included, so the last segment closes the curve like any ROC); bDQ is its exact area, the trapezoid
rule over the sorted scores with equal scores grouped into one step. This is the Mann-Whitney
statistic and equals scikit-learn's ``roc_auc_score`` on the same samples. It is undefined (NaN)
when there are no positives or no negatives.

Reading it: a detector that answers on every frame and hits a fraction h of the balls, with scores that do
not tell hits from misses, scores about h / 2 (each missed ball is a positive at -inf and a negative with its
score). A bDQ far below 50 therefore means few hits, not a ranking that puts misses above hits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..result import Ball

DEFAULT_TP_RADII = 1.0
DEFAULT_TP_MIN_PX = 5.0


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Exact ROC AUC of positive and negative sample scores (-inf allowed), ties grouped; NaN if a side is empty."""
    pos = np.asarray(positive, np.float64).ravel()
    neg = np.asarray(negative, np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise InputError("roc_auc: scores contain NaN")
    fpr, tpr = roc_curve(pos, neg)
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) * 0.5))


def roc_curve(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) points from (0, 0) to (1, 1), one per distinct score, thresholds descending."""
    pos = np.asarray(positive, np.float64).ravel()
    neg = np.asarray(negative, np.float64).ravel()
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_pos = scores[order], is_pos[order]
    # The last index of each group of equal scores: one ROC point per distinct threshold.
    last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    tp = np.cumsum(is_pos)[last]
    fp = (last + 1) - tp
    tpr = np.concatenate([[0.0], tp / max(pos.size, 1)])
    fpr = np.concatenate([[0.0], fp / max(neg.size, 1)])
    return fpr, tpr


def ball_samples(detection: Ball | None, gt: tuple[float, float, float] | None, *,
                 tp_radii: float = DEFAULT_TP_RADII, tp_min_px: float = DEFAULT_TP_MIN_PX
                 ) -> tuple[list[float], list[float]]:
    """The (positive scores, negative scores) one frame adds to the ROC, by the rule of the module docstring."""
    score = -math.inf
    if detection is not None:
        score = float(detection.score)
        if not math.isfinite(score):
            raise InputError(f"ball detection: score must be finite, got {detection.score}")
    if gt is None:
        return [], [score]
    gx, gy, r = (float(v) for v in gt)
    if detection is None:
        return [-math.inf], []
    dist = math.hypot(float(detection.x) - gx, float(detection.y) - gy)
    if dist <= max(tp_radii * r, tp_min_px):
        return [score], []
    return [-math.inf], [score]


@dataclass
class BallAccumulator:
    """Collects ROC samples frame by frame; `bdq()` is the AUC over everything added."""

    tp_radii: float = DEFAULT_TP_RADII
    tp_min_px: float = DEFAULT_TP_MIN_PX
    positive: list[float] = field(default_factory=list)
    negative: list[float] = field(default_factory=list)

    def add(self, detection: Ball | None, gt: tuple[float, float, float] | None) -> None:
        """Add one frame's top-1 detection and annotated ball (x, y, radius) or None."""
        pos, neg = ball_samples(detection, gt, tp_radii=self.tp_radii, tp_min_px=self.tp_min_px)
        self.positive.extend(pos)
        self.negative.extend(neg)

    def bdq(self) -> float:
        """Area under the ROC curve in [0, 1]; NaN when no frame has a ball or no negative sample exists."""
        return roc_auc(np.asarray(self.positive), np.asarray(self.negative))

    def counts(self) -> dict[str, int]:
        """Sample counts: balls, balls hit by the detection, negative samples."""
        hits = sum(1 for s in self.positive if s != -math.inf)
        return {"balls": len(self.positive), "hits": hits, "negatives": len(self.negative)}
