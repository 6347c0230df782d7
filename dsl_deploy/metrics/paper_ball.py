"""bDQ of the paper protocol: the ball ROC as the authors' ``ball_metrics.py`` computes it, and its AUC.

Source of the rules: ispgroupucl/DeepSportLab ``ball_metrics.py`` (top-1 metrics, 21 thresholds) with
the layers it imports (``PeakLocalMax``, ``AvoidLocalEqualities``) and the fused ball map it reads back
from a PNG written by imageio. Restated (our own code, written from them):

- Score. The fused ball map is saved as an 8-bit image: a map within [0, 1] becomes
  floor(255 v + 0.499999999), i.e. rounded (a map reaching above 1 is stretched so its maximum is 255),
  and read back as uint8 / 255. The top-1 peak is the map's maximum, so the frame's score is the
  quantised value of the decoder's top-1 ball score: no per-pixel map needs to be kept.
- Position. The top-1 peak's pixel. Theirs breaks ties inside a plateau of equal 8-bit values with a
  fixed random noise; ours is the decoder's argmax, which lies on that plateau. A position in frame
  pixels is rounded to the nearest pixel.
- Target. The annotated ball is a filled disc at (int(x), int(y)) of radius int(diameter / 2) pixels,
  as OpenCV draws it (the pixels within that radius of the centre, both integers); a frame is a positive
  (P) when it has a ball, else a negative (N).
- At threshold t of linspace(0, 1, 21), the frame's detection exists when score > t (theirs: plus a
  noise of std 0.001 that decides the exact ties, e.g. 51/255 = 0.2). It is a TP when it lies on the
  disc, else a FP (with or without a ball in the frame). TP rate = TP / P; FP rate = FP / (P + N), over
  all frames. (Where no peak passes t, theirs still reads the target at pixel (0, 0), a TP if the disc
  covers that corner; ours counts nothing there.)

Closing the curve. Their script stops at these 21 (FP rate, TP rate) points and the notebook plots
them; the paper reports an area. bDQ here is the trapezoid area under the polyline that starts at
(0, 0), runs through the points from the highest threshold to the lowest, and ends at (1, 1): a ROC
curve runs from "nothing declared" to "everything declared", and the straight segment to (1, 1) is
what declaring the remaining frames at random adds (the same closure as the coco protocol's exact
AUC, whose lowest threshold is -inf). The area under the points alone is reported too (bDQ_open).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..result import Ball

PAPER_BALL_THRESHOLDS = np.linspace(0.0, 1.0, 21)


def heatmap_uint8(score: float) -> int:
    """The 8-bit value of a fused-map maximum as imageio writes the map: round(255 v) within [0, 1], 255 above."""
    v = float(score)
    if not math.isfinite(v):
        raise InputError(f"ball detection: score must be finite, got {score}")
    if v > 1.0:
        return 255  # the map is stretched to [0, 255]: its maximum becomes 255
    return int(math.floor(max(v, 0.0) * 255.0 + 0.499999999))


def in_ball_disc(x: float, y: float, ball: tuple[float, float, float]) -> bool:
    """Whether pixel (x, y) (rounded to the nearest) lies on the disc drawn for ball (x, y, radius)."""
    px, py = math.floor(float(x) + 0.5), math.floor(float(y) + 0.5)
    cx, cy, radius = int(float(ball[0])), int(float(ball[1])), int(float(ball[2]))
    return (px - cx) ** 2 + (py - cy) ** 2 <= radius ** 2


@dataclass
class PaperBallAccumulator:
    """Top-1 TP and FP counts per threshold over frames; `bdq()` is the closed AUC of the curve."""

    tp: np.ndarray = field(default_factory=lambda: np.zeros(len(PAPER_BALL_THRESHOLDS), np.int64))
    fp: np.ndarray = field(default_factory=lambda: np.zeros(len(PAPER_BALL_THRESHOLDS), np.int64))
    positives: int = 0
    negatives: int = 0

    def add(self, detection: Ball | None, gt: tuple[float, float, float] | None,
            shape: tuple[int, int] | None = None) -> None:
        """Add one frame: its top-1 detection (frame pixels) and annotated ball (x, y, radius) or None."""
        has_ball = gt is not None
        self.positives += int(has_ball)
        self.negatives += int(not has_ball)
        if detection is None:
            return
        q = heatmap_uint8(detection.score)
        hit = has_ball and gt is not None and in_ball_disc(detection.x, detection.y, gt)
        if shape is not None:  # a peak outside the frame cannot lie on the target image
            px, py = math.floor(float(detection.x) + 0.5), math.floor(float(detection.y) + 0.5)
            hit = hit and 0 <= px < shape[1] and 0 <= py < shape[0]
        # float32 as their thresholds and normalised map: 51/255 equals 0.2 and is not above it.
        detected = np.float32(q) / np.float32(255.0) > PAPER_BALL_THRESHOLDS.astype(np.float32)
        if hit:
            self.tp += detected
        else:
            self.fp += detected

    def curve(self) -> dict[str, list[float]]:
        """{'thresholds', 'tp_rate', 'fp_rate'}: their 21 ROC points (rates 0 when a count is 0)."""
        tpr = self.tp / self.positives if self.positives else np.zeros(self.tp.shape)
        frames = self.positives + self.negatives
        fpr = self.fp / frames if frames else np.zeros(self.fp.shape)
        return {"thresholds": [round(float(t), 4) for t in PAPER_BALL_THRESHOLDS],
                "tp_rate": [float(v) for v in tpr], "fp_rate": [float(v) for v in fpr]}

    def _area(self, closed: bool) -> float:
        if self.positives == 0:
            return float("nan")
        c = self.curve()
        fpr = [0.0] + c["fp_rate"][::-1] + ([1.0] if closed else [])
        tpr = [0.0] + c["tp_rate"][::-1] + ([1.0] if closed else [])
        return float(sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1)))

    def bdq(self) -> float:
        """Area under (0, 0), the points by decreasing threshold, (1, 1); NaN when no frame has a ball."""
        return self._area(closed=True)

    def bdq_open(self) -> float:
        """Area under (0, 0) and the points only (the curve as their script leaves it); NaN without a ball."""
        return self._area(closed=False)
