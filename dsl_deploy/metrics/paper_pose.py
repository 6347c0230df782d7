"""pEQ of the paper protocol: the pose measures as the authors' evaluation script computes them.

Source of the rules: ispgroupucl/DeepSportLab, ``openpifpaf/eval_oks_pq.py`` run with its defaults
(matching reference 'annotations', no OKS threshold on a match, distances not squared). The rules,
restated (this is our own code, written from them):

- Points. Both sides use the 4 DeepSport points: head, hip, foot 1, foot 2. A predicted COCO skeleton
  gives head = the middle of the ears that were found, hip = the middle of the hips that were found
  (one found part stands alone), foot 1 = the left ankle, foot 2 = the right ankle; a part not found
  (score 0) leaves its point undefined. An annotated 17-keypoint pose (COCO or synthetic data) is
  converted the same way; an annotation counts when its 4 points are all labelled (theirs: when all
  4 project into the image).
- Similarity of one point: exp(-d / (2 s kappa^2)), d the Euclidean distance in pixels (not squared),
  s the area of the box around the annotation's 4 points, kappa = 0.8 x (0.15, 0.2, 0.2, 0.2) for
  (head, hip, foot 1, foot 2). An undefined predicted point has no similarity (NaN, left out of the
  mean). OKS = the mean over the points, for both assignments of the feet, the larger one; when the
  annotation's two feet coincide, the mean over head and hip only.
- Matching, per frame: the annotations in their order; each takes the prediction of highest OKS among
  those not yet taken (a taken one counts as 0 there), with no minimum OKS, until every prediction is
  taken; an annotation whose candidates all have an undefined OKS takes none. (As in their loop, when
  every free prediction has an undefined OKS, a prediction already taken can be chosen again.)
- Court: a prediction that is not matched is dropped when none of its foot 1, foot 2 and hip lies on
  the court (theirs: the points projected on the court plane with a 10 cm margin; ours: the annotated
  court mask). Annotations are never dropped.
- Over the dataset, at each OKS threshold t of 0.50:0.05:0.95: TP(t) = matches with OKS >= t,
  "precision" TP(t) / predictions kept, "recall" TP(t) / annotations; AP and AR are their means over
  the thresholds and F1 = AP AR / (AP + AR), the column of the paper's Table 1.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .keypoints import to_deepsport

PAPER_KAPPAS = tuple(0.8 * k for k in (0.15, 0.2, 0.2, 0.2))  # head, hip, foot 1, foot 2
PAPER_OKS_THRESHOLDS = np.linspace(0.50, 0.95, 10)


def paper_points(keypoints: np.ndarray, pose_format: str = "coco") -> np.ndarray:
    """[N, 4, 2] head, hip, foot 1, foot 2 of [N, 17, 3] skeletons (or [N, 4, 3] DeepSport poses); NaN = undefined."""
    kp = np.asarray(keypoints, np.float64)
    if kp.size == 0:
        return np.zeros((0, 4, 2))
    four = kp if pose_format == "deepsport" else to_deepsport(kp)
    if four.ndim != 3 or four.shape[1:] != (4, 3):
        raise InputError(f"poses: expected [N, 4, 3] DeepSport or [N, 17, 3] COCO keypoints, got {kp.shape}")
    out = four[:, :, :2].copy()
    out[~(four[:, :, 2] > 0)] = np.nan
    return out


def paper_oks_matrix(gt: np.ndarray, det: np.ndarray, kappas: tuple[float, ...] = PAPER_KAPPAS) -> np.ndarray:
    """[G, D] OKS of the paper protocol between annotations [G, 4, 2] (all defined) and predictions [D, 4, 2]."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4, 2)
    det = np.asarray(det, np.float64).reshape(-1, 4, 2)
    g, d = gt.shape[0], det.shape[0]
    if g == 0 or d == 0:
        return np.zeros((g, d))
    kap2 = np.asarray(kappas, np.float64) ** 2
    area = np.ptp(gt[:, :, 0], axis=1) * np.ptp(gt[:, :, 1], axis=1)
    swapped = det[:, [0, 1, 3, 2]]
    with np.errstate(divide="ignore", invalid="ignore"):
        sims = []
        for pred in (det, swapped):
            dist = np.hypot(gt[:, None, :, 0] - pred[None, :, :, 0], gt[:, None, :, 1] - pred[None, :, :, 1])
            sims.append(np.exp(-dist / (2 * area[:, None, None] * kap2)))
    same_feet = np.all(gt[:, 2] == gt[:, 3], axis=1)
    with warnings.catch_warnings():  # an all-NaN mean is NaN on purpose: no similarity at all
        warnings.simplefilter("ignore", RuntimeWarning)
        pair1 = np.where(same_feet[:, None], np.nanmean(sims[0][:, :, :2], axis=2), np.nanmean(sims[0], axis=2))
        pair2 = np.where(same_feet[:, None], pair1, np.nanmean(sims[1], axis=2))
    # The larger of the two, as Python's max(pair1, pair2): pair1 unless pair2 is strictly larger.
    return np.where(pair2 > pair1, pair2, pair1)


def paper_match(oks: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Their greedy matching of one frame: ([D] index of the annotation each prediction took or -1, matched OKS)."""
    oks = np.asarray(oks, np.float64)
    g, d = oks.shape
    taken = np.full(d, -1, np.int64)
    matched: list[float] = []
    for j in range(g):
        if d == 0 or (taken >= 0).all():
            break
        values = np.where(taken >= 0, 0.0, oks[j])
        if np.isnan(values).all():
            continue
        i = int(np.nanargmax(values))
        taken[i] = j
        matched.append(float(oks[j, i]))
    return taken, matched


def on_court_points(points: np.ndarray, court: np.ndarray | None) -> np.ndarray:
    """[D] bool: whether foot 1, foot 2 or the hip of each prediction [D, 4, 2] lies on a court pixel."""
    pts = np.asarray(points, np.float64).reshape(-1, 4, 2)
    if court is None:
        return np.ones(pts.shape[0], bool)
    court = np.asarray(court, bool)
    h, w = court.shape
    out = np.zeros(pts.shape[0], bool)
    for k in (2, 3, 1):  # foot 1, foot 2, hip: the points their court test projects
        xy = pts[:, k]
        ok = np.isfinite(xy).all(axis=1)
        xi = np.floor(np.where(ok, xy[:, 0], -1) + 0.5).astype(np.int64)
        yi = np.floor(np.where(ok, xy[:, 1], -1) + 0.5).astype(np.int64)
        ok &= (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        out[ok] |= court[yi[ok], xi[ok]]
    return out


@dataclass
class PaperPoseAccumulator:
    """Accumulates the paper protocol's pose counts; `summary()` gives AP, AP50, AP75, AR, F1 in [0, 1]."""

    kappas: tuple[float, ...] = PAPER_KAPPAS
    tp: np.ndarray = field(default_factory=lambda: np.zeros(len(PAPER_OKS_THRESHOLDS), np.int64))
    predictions: int = 0
    annotations: int = 0
    matches: int = 0

    def add(self, det_keypoints: np.ndarray, gt_keypoints: np.ndarray, *, pose_format: str = "coco",
            court: np.ndarray | None = None) -> np.ndarray:
        """Score one frame: predicted [D, 17, 3] skeletons vs annotated poses; returns [D] 'kept' (matched or on
        court)."""
        det = paper_points(det_keypoints, "coco")
        gt_kp = np.asarray(gt_keypoints, np.float64)
        gt = paper_points(gt_kp, pose_format)
        gt = gt[np.isfinite(gt).all(axis=(1, 2))] if gt.size else gt
        taken, matched = paper_match(paper_oks_matrix(gt, det, self.kappas))
        kept = (taken >= 0) | on_court_points(det, court)
        ok = np.asarray(matched, np.float64)
        self.tp += (ok[:, None] >= PAPER_OKS_THRESHOLDS[None, :]).sum(axis=0)
        self.predictions += int(kept.sum())
        self.annotations += int(gt.shape[0])
        self.matches += len(matched)
        return kept

    def summary(self) -> dict[str, float]:
        """AP, AP50, AP75 (TP / predictions), AR (TP / annotations) and F1 = AP AR / (AP + AR); NaN when undefined."""
        nan = float("nan")
        precision = self.tp / self.predictions if self.predictions else np.full(self.tp.shape, nan)
        recall = self.tp / self.annotations if self.annotations else np.full(self.tp.shape, nan)
        ap, ar = float(np.mean(precision)), float(np.mean(recall))
        f1 = ap * ar / (ap + ar) if ap + ar > 0 else (0.0 if ap == 0 and ar == 0 else nan)
        return {"AP": ap, "AP50": float(precision[0]), "AP75": float(precision[5]), "AR": ar, "F1": f1}
