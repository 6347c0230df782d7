"""Evaluator: accumulate (FrameResult, Annotation) pairs into the paper's quality measures, by two protocols.

All measures are in percent, as the paper's Table 1: bDQ (ball ROC AUC), pSQ and pDQ (player PQ
terms), AP, AP50, AP75, AR and F1 (pose). An undefined measure (e.g. bDQ on a dataset where every
frame has a ball and every detection hits it, or AP with no annotated pose) is None in the summary
and '-' in the table. Every frame is scored by both protocols; `protocol` picks the one whose
measures the summary's top level and the table show, and `summary()["protocols"]` holds both:

- 'paper': the authors' own measures, as their evaluation scripts compute them (`metrics.paper`).
- 'coco': the standard measures. Predictions and annotations outside the court are discarded by the
  rule of `metrics.panoptic.on_court`; the ignore region is void (PQ rules); for poses (COCO OKS AP/AR,
  `metrics.keypoints`), an annotation outside the court is ignored and a predicted player whose mask
  lies outside the court, or more than half in the ignore region, is dropped; bDQ is the exact ROC AUC
  of `metrics.ball`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from ..data.annotations import Annotation
from ..errors import InputError
from ..result import FrameResult
from ..spec import NUM_BODY_PARTS, ModelSpec
from .ball import DEFAULT_TP_MIN_PX, DEFAULT_TP_RADII, BallAccumulator
from .keypoints import FEET_SWAP, OksAccumulator, deepsport_sigmas, to_deepsport
from .panoptic import PanopticCounts, on_court, panoptic_counts
from .paper import PaperProtocol

SUMMARY_KEYS = ("bDQ", "pSQ", "pDQ", "AP", "AP50", "AP75", "AR", "F1", "frames", "failed")
PROTOCOLS = ("paper", "coco")
# What the table's title line says each protocol is.
PROTOCOL_NOTES = {
    "paper": "the authors' measures as eval_oks_pq.py and ball_metrics.py compute them; "
             "F1 = AP AR / (AP + AR) as Table 1; bDQ closed at (1, 1)",
    "coco": "COCO OKS AP/AR, PQ with void regions, exact ROC AUC; F1 = 2 AP AR / (AP + AR)",
}


def _boxes_xywh(labels: np.ndarray, count: int) -> np.ndarray:
    """[count, 4] (x, y, w, h) box of each label 1..count over its pixels (zeros for an empty one)."""
    out = np.zeros((count, 4))
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    keep = lab < count
    ys, xs, lab = ys[keep], xs[keep], lab[keep]
    for i in range(count):
        sel = lab == i
        if sel.any():
            x0, y0 = xs[sel].min(), ys[sel].min()
            out[i] = (x0, y0, xs[sel].max() + 1 - x0, ys[sel].max() + 1 - y0)
    return out


@dataclass
class Evaluator:
    """Accumulates frames; `summary()` returns the measures, `failures` lists frames that failed."""

    spec: ModelSpec = field(default_factory=ModelSpec)
    tp_radii: float = DEFAULT_TP_RADII
    tp_min_px: float = DEFAULT_TP_MIN_PX
    court_rule: str = "foot"
    protocol: str = "coco"
    frames: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    times_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InputError(f"protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        self.paper = PaperProtocol()
        self.ball = BallAccumulator(self.tp_radii, self.tp_min_px)
        self.panoptic = PanopticCounts()
        self._poses: dict[str, OksAccumulator] = {}

    def _pose_accumulator(self, fmt: str) -> OksAccumulator:
        if fmt not in ("coco", "deepsport"):
            raise InputError(f"annotation pose_format {fmt!r}: expected 'coco' or 'deepsport'")
        if fmt not in self._poses:
            if self._poses:
                raise InputError(f"annotations mix pose formats ({next(iter(self._poses))} and {fmt}); "
                                 "evaluate each dataset on its own")
            sig = np.asarray(self.spec.sigmas[:NUM_BODY_PARTS], np.float64)
            self._poses[fmt] = (OksAccumulator(sig) if fmt == "coco"
                                else OksAccumulator(deepsport_sigmas(sig), swap_pairs=FEET_SWAP))
        return self._poses[fmt]

    def add(self, result: FrameResult, ann: Annotation) -> None:
        """Score one frame: the result must be in the annotation's pixels (frame coordinates)."""
        if result.labels.shape != ann.instances.shape:
            raise InputError(f"frame {ann.image_id or self.frames}: result is {result.labels.shape[1]}x"
                             f"{result.labels.shape[0]} but the annotation is {ann.width}x{ann.height}; "
                             "map the result back to frame coordinates first")
        counts = panoptic_counts(result.labels, ann.instances, ignore=ann.ignore, court=ann.court,
                                 court_rule=self.court_rule)
        if result.ball is not None and not math.isfinite(float(result.ball.score)):
            raise InputError(f"frame {ann.image_id or self.frames}: ball score must be finite, got {result.ball.score}")
        self.ball.add(result.ball, ann.ball)
        self._add_poses(result, ann)
        self.paper.add(result, ann)
        self.panoptic += counts
        self.frames += 1
        if "total" in result.timings:
            self.times_ms.append(float(result.timings["total"]))

    def _add_poses(self, result: FrameResult, ann: Annotation) -> None:
        acc = self._pose_accumulator(ann.pose_format)
        n_pred, n_gt = result.num_players, ann.num_players
        gt_labels = ann.instances.astype(np.int64)
        areas = np.bincount(gt_labels.ravel(), minlength=n_gt + 1)[1:n_gt + 1].astype(np.float64)
        gt_ignore = ~on_court(gt_labels, ann.court, n_gt, self.court_rule)
        keep = on_court(result.labels.astype(np.int64), ann.court, n_pred, self.court_rule)
        if ann.ignore is not None and n_pred:
            lab = result.labels.astype(np.int64)
            pix = np.bincount(lab.ravel(), minlength=n_pred + 1)[1:n_pred + 1]
            void = np.bincount(lab[np.asarray(ann.ignore, bool)], minlength=n_pred + 1)[1:n_pred + 1]
            keep &= ~(void * 2 > pix)
        det = result.keypoints[keep]
        if ann.pose_format == "deepsport":
            det = to_deepsport(det)
        acc.add(det, result.scores[keep], ann.keypoints, areas, gt_ignore=gt_ignore,
                gt_boxes=_boxes_xywh(gt_labels, n_gt))

    def add_failure(self, frame_id: str, reason: str) -> None:
        """Record a frame that could not be scored (it counts in `failed`, not in the measures)."""
        self.failures.append((str(frame_id), str(reason)))

    def summary(self) -> dict[str, Any]:
        """The chosen protocol's {bDQ, pSQ, pDQ, AP, AP50, AP75, AR, F1, counts, ...} (percent or None), with
        protocol, protocols (both protocols' measures), frames, failed, ms, ms_std, pose_format."""
        measures = {"paper": self.paper.summary(), "coco": self._coco_summary()}
        out: dict[str, Any] = {**measures[self.protocol], "protocol": self.protocol}
        out["frames"] = self.frames
        out["failed"] = len(self.failures)
        t = np.asarray(self.times_ms)
        out["ms"] = round(float(t.mean()), 3) if t.size else None
        out["ms_std"] = round(float(t.std()), 3) if t.size else None
        out["pose_format"] = next(iter(self._poses)) if self._poses else None
        out["protocols"] = measures
        return out

    def _coco_summary(self) -> dict[str, Any]:
        """The coco protocol's measures: {bDQ, pSQ, pDQ, AP, AP50, AP75, AR, F1, F1_paper, counts}."""
        def pct(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else round(100.0 * v, 4)

        pose = next(iter(self._poses.values())).summary() if self._poses else {}
        out: dict[str, Any] = {
            "bDQ": pct(self.ball.bdq()),
            "pSQ": pct(self.panoptic.sq),
            "pDQ": pct(self.panoptic.dq),
        }
        for k in ("AP", "AP50", "AP75", "AR", "F1"):
            out[k] = pct(pose.get(k, float("nan")))
        # The paper's Table 1 prints AP AR / (AP + AR) under F1 (87.5, 82.1 -> 42.4): kept for comparison.
        ap, ar = out["AP"], out["AR"]
        out["F1_paper"] = round(ap * ar / (ap + ar), 4) if ap is not None and ar is not None and ap + ar > 0 else None
        out["counts"] = {"players_tp": self.panoptic.tp, "players_fp": self.panoptic.fp,
                         "players_fn": self.panoptic.fn, **self.ball.counts(),
                         "poses_annotated": next(iter(self._poses.values())).num_gt if self._poses else 0}
        return out


def _cell(v: Any, digits: int) -> str:
    return "-" if v is None else f"{float(v):.{digits}f}"


def format_table(rows: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """A title line naming the protocol, then the paper's Table 1 layout: Method | bDQ | pSQ | pDQ | AP | AR | F1 |
    ms | MB."""
    rows = list(rows)
    head = ["Method", "bDQ", "pSQ", "pDQ", "AP", "AR", "F1", "ms", "MB"]
    protocols = sorted({str(s.get("protocol", "coco")) for _, s in rows})
    lines = []
    for name, s in rows:
        ms = "-" if s.get("ms") is None else f"{s['ms']:.1f} ± {s.get('ms_std') or 0.0:.1f}"
        lines.append([name, _cell(s.get("bDQ"), 2), _cell(s.get("pSQ"), 1), _cell(s.get("pDQ"), 1),
                      _cell(s.get("AP"), 1), _cell(s.get("AR"), 1), _cell(s.get("F1"), 1), ms,
                      _cell(s.get("MB"), 0)])
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    rule = "-" * len(fmt(head))
    title = "; ".join(f"protocol {p}: {PROTOCOL_NOTES.get(p, 'unknown')}" for p in protocols)
    return "\n".join([title, fmt(head), rule] + [fmt(r) for r in lines])
