"""The paper protocol: the authors' own measures, for every comparison with the paper's Table 1.

`PaperProtocol` scores frames as ispgroupucl/DeepSportLab's ``openpifpaf/eval_oks_pq.py`` (pEQ and
pSQ/pDQ, with panopticapi's PQ code) and ``ball_metrics.py`` (bDQ) compute them with their default
options; the pose and ball rules are in `paper_pose` and `paper_ball`. pSQ / pDQ, restated (our own
code, written from their rules):

- Ground truth: every annotated player mask is a player segment, and so is the crowd region
  (`Annotation.crowd`), as one segment (theirs: every id below 3000 of the DeepSport human masks, the
  crowd's id 1000 included). A segment of fewer than 10 pixels is background (their loader skips it).
  Everything else is background, itself a segment: there is no void, so `Annotation.ignore` counts as
  background and a prediction lying on it is a false positive. The court does not filter the ground truth.
- Predictions: the decoded players, except those the pose step drops (not matched to an annotated
  pose and off the court, `paper_pose`); their pixels become background.
- A prediction and a segment match when IoU = |p & g| / |p | g| > 0.5. pSQ = mean IoU of the matches,
  pDQ = TP / (TP + FP/2 + FN/2): the SQ and RQ of the player class (their 'Things' row; the ball class
  has no segment). pSQ is 0 when there is something to find and no match, as panopticapi reports it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.annotations import Annotation
from ..errors import InputError
from ..result import FrameResult
from .panoptic import PanopticCounts
from .paper_ball import PaperBallAccumulator
from .paper_pose import PAPER_KAPPAS, PaperPoseAccumulator

MIN_SEGMENT_PIXELS = 10


def paper_panoptic_counts(pred: np.ndarray, gt: np.ndarray, *, keep: np.ndarray | None = None,
                          crowd: np.ndarray | None = None, min_pixels: int = MIN_SEGMENT_PIXELS) -> PanopticCounts:
    """Player PQ counts of one frame by the paper protocol's rules (module docstring)."""
    p = np.asarray(pred)
    g = np.asarray(gt)
    for name, arr in (("predicted labels", p), ("ground-truth instances", g)):
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer) or (arr.size and int(arr.min()) < 0):
            raise InputError(f"{name}: expected a non-negative integer [H, W] label map, got {arr.dtype} {arr.shape}")
    if p.shape != g.shape:
        raise InputError(f"predicted labels have shape {p.shape} but the annotation is {g.shape}; "
                         "both must be in the same (frame) pixels")
    if crowd is not None and np.shape(crowd) != g.shape:
        raise InputError(f"crowd mask has shape {np.shape(crowd)}, expected {g.shape}")
    p, g = p.astype(np.int64), g.astype(np.int64)
    n_pred = int(p.max(initial=0))
    if keep is not None:
        keep = np.asarray(keep, bool).ravel()
        if keep.shape[0] < n_pred:
            raise InputError(f"keep: {keep.shape[0]} flags for {n_pred} predicted players")
        table = np.zeros(n_pred + 1, np.int64)
        table[1:] = np.where(keep[:n_pred], np.arange(1, n_pred + 1), 0)
        p = table[p]
    n_gt = int(g.max(initial=0))
    if crowd is not None:
        g = np.where(np.asarray(crowd, bool) & (g == 0), n_gt + 1, g)
        n_gt += 1
    gt_area = np.bincount(g.ravel(), minlength=n_gt + 1)
    g = np.where(gt_area[g] >= min_pixels, g, 0)  # a segment under min_pixels is background
    gt_area = np.bincount(g.ravel(), minlength=n_gt + 1)[1:]
    pred_area = np.bincount(p.ravel(), minlength=n_pred + 1)[1:]
    joint = np.bincount((g * (n_pred + 1) + p).ravel(), minlength=(n_gt + 1) * (n_pred + 1))
    inter = joint.reshape(n_gt + 1, n_pred + 1)[1:, 1:].astype(np.float64)
    union = gt_area[:, None] + pred_area[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    match = iou > 0.5
    counts = PanopticCounts()
    counts.tp = int(match.sum())
    counts.iou_sum = float(iou[match].sum())
    counts.fn = int(np.sum((gt_area > 0) & ~match.any(axis=1)))
    counts.fp = int(np.sum((pred_area > 0) & ~match.any(axis=0)))
    return counts


def _pct(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(100.0 * v, 4)


@dataclass
class PaperProtocol:
    """Accumulates frames by the paper protocol; `summary()` gives its measures in percent (None = undefined)."""

    kappas: tuple[float, ...] = PAPER_KAPPAS
    frames: int = 0
    panoptic: PanopticCounts = field(default_factory=PanopticCounts)
    ball: PaperBallAccumulator = field(default_factory=PaperBallAccumulator)

    def __post_init__(self) -> None:
        self.pose = PaperPoseAccumulator(self.kappas)

    def add(self, result: FrameResult, ann: Annotation) -> None:
        """Score one frame (result in the annotation's pixels): poses first, since they decide the court filter."""
        kept = self.pose.add(result.keypoints, ann.keypoints, pose_format=ann.pose_format, court=ann.court)
        self.panoptic += paper_panoptic_counts(result.labels, ann.instances, keep=kept, crowd=ann.crowd)
        self.ball.add(result.ball, ann.ball, ann.instances.shape)
        self.frames += 1

    def summary(self) -> dict[str, Any]:
        """{bDQ, bDQ_open, pSQ, pDQ, AP, AP50, AP75, AR, F1, ball_curve, counts}: the paper's F1 = AP AR / (AP + AR)."""
        pc = self.panoptic
        sq = pc.sq if pc.tp else (0.0 if pc.fp or pc.fn else float("nan"))
        pose = self.pose.summary()
        out: dict[str, Any] = {"bDQ": _pct(self.ball.bdq()), "bDQ_open": _pct(self.ball.bdq_open()),
                               "pSQ": _pct(sq), "pDQ": _pct(pc.dq)}
        out.update({k: _pct(pose[k]) for k in ("AP", "AP50", "AP75", "AR", "F1")})
        out["ball_curve"] = self.ball.curve()
        out["counts"] = {"players_tp": pc.tp, "players_fp": pc.fp, "players_fn": pc.fn,
                         "poses_predicted": self.pose.predictions, "poses_annotated": self.pose.annotations,
                         "poses_matched": self.pose.matches, "balls": self.ball.positives,
                         "frames_without_ball": self.ball.negatives}
        return out
