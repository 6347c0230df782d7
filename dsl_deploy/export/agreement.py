"""Decoded agreement of a converted model with its FP32 original: players matched, mask IoU, keypoints, ball.

Torch-free: both models run on ONNX Runtime (CPU), both outputs go through the same decoder, and the results
are compared player by player (matched by mask IoU > 0.5, as PQ matches), part by part and for the ball.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..result import FrameResult
from ..spec import ModelSpec

MATCH_IOU = 0.5


def match_players(a: FrameResult, b: FrameResult) -> list[tuple[int, int, float]]:
    """(player in a, player in b, mask IoU) for the pairs whose masks overlap by IoU > 0.5 (unique by nature)."""
    na, nb = a.num_players, b.num_players
    if not na or not nb:
        return []
    pairs = np.bincount((a.labels.astype(np.int64) * (nb + 1) + b.labels).ravel(), minlength=(na + 1) * (nb + 1))
    inter = pairs.reshape(na + 1, nb + 1)[1:, 1:].astype(np.float64)
    union = a.areas.astype(np.float64)[:, None] + b.areas.astype(np.float64)[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return [(int(i), int(j), float(iou[i, j])) for i, j in zip(*np.nonzero(iou > MATCH_IOU))]


class Agreement:
    """Accumulates the comparison of decoded results frame by frame; `summary()` gives the figures."""

    def __init__(self, ball_tolerance: float = 8.0):
        self.tol = float(ball_tolerance)
        self.frames = self.ref_players = self.test_players = 0
        self.ious: list[float] = []
        self.kp_px: list[float] = []
        self.kp_unmatched = 0
        self.ball_ok = 0
        self.ball_px: list[float] = []
        self.field_max: dict[str, float] = {}

    def add_fields(self, ref: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> None:
        """Record the largest absolute difference per output."""
        for name, value in ref.items():
            diff = float(np.max(np.abs(value.astype(np.float32) - test[name].astype(np.float32))))
            self.field_max[name] = max(self.field_max.get(name, 0.0), diff)

    def add(self, ref: FrameResult, test: FrameResult) -> None:
        """Compare one frame's results (reference first)."""
        self.frames += 1
        self.ref_players += ref.num_players
        self.test_players += test.num_players
        for i, j, iou in match_players(ref, test):
            self.ious.append(iou)
            ka, kb = ref.keypoints[i], test.keypoints[j]
            found_a, found_b = ka[:, 2] > 0, kb[:, 2] > 0
            both = found_a & found_b
            self.kp_unmatched += int(np.sum(found_a ^ found_b))
            self.kp_px.extend(np.hypot(ka[both, 0] - kb[both, 0], ka[both, 1] - kb[both, 1]).tolist())
        if ref.ball is None or test.ball is None:
            self.ball_ok += ref.ball is None and test.ball is None
        else:
            d = float(np.hypot(ref.ball.x - test.ball.x, ref.ball.y - test.ball.y))
            self.ball_px.append(d)
            self.ball_ok += d <= self.tol

    def summary(self) -> dict[str, Any]:
        """The figures: players (reference, converted, matched), mask IoU, keypoint px, ball, field differences."""
        matched = len(self.ious)
        most = max(self.ref_players, self.test_players)
        kp = np.asarray(self.kp_px, dtype=np.float64)
        return {
            "frames": self.frames,
            "players_reference": self.ref_players, "players": self.test_players, "players_matched": matched,
            "player_match_rate": round(matched / most, 4) if most else None,
            "mask_iou_mean": round(float(np.mean(self.ious)), 4) if self.ious else None,
            "mask_iou_min": round(float(np.min(self.ious)), 4) if self.ious else None,
            "keypoints_compared": int(kp.size), "keypoints_found_by_one_only": self.kp_unmatched,
            "keypoint_px_mean": round(float(kp.mean()), 3) if kp.size else None,
            "keypoint_px_p95": round(float(np.percentile(kp, 95)), 3) if kp.size else None,
            "keypoint_px_max": round(float(kp.max()), 3) if kp.size else None,
            "ball_agreement": round(self.ball_ok / self.frames, 4) if self.frames else None,
            "ball_px_max": round(max(self.ball_px), 3) if self.ball_px else None,
            "field_max_abs": {k: float(f"{v:.4g}") for k, v in self.field_max.items()},
        }


def describe(summary: dict[str, Any], name: str = "converted") -> str:
    """One line for a terminal: what matched, how closely."""
    def fmt(v: Any, unit: str = "") -> str:
        return "-" if v is None else f"{v:g}{unit}"

    if not summary["players_reference"] and not summary["players"]:
        players = "no players decoded by either (an untrained network, or frames without players)"
    else:
        players = (f"players {summary['players_matched']}/{summary['players_reference']} matched "
                   f"({summary['players']} found), mask IoU mean {fmt(summary['mask_iou_mean'])} min "
                   f"{fmt(summary['mask_iou_min'])}, keypoints {fmt(summary['keypoint_px_mean'], ' px')} mean "
                   f"{fmt(summary['keypoint_px_p95'], ' px')} p95 ({summary['keypoints_found_by_one_only']} found "
                   "by one only)")
    fields = ", ".join(f"{k} {v:.3g}" for k, v in summary["field_max_abs"].items())
    return (f"{name} vs fp32 on {summary['frames']} held-out frames: {players}; ball "
            f"{fmt(summary['ball_agreement'])} within 8 px (max {fmt(summary['ball_px_max'], ' px')}); "
            f"field max abs diff {fields}")


def compare_models(reference: str | Path, converted: str | Path, batches: Iterable[np.ndarray],
                   spec: ModelSpec, threads: int | None = None) -> dict[str, Any]:
    """Run both ONNX files on ONNX Runtime's CPU provider over the batches and compare the decoded results."""
    import onnxruntime as ort

    from ..decode import Decoder

    def session(path: str | Path) -> Any:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    ref_sess, test_sess = session(reference), session(converted)
    names = list(spec.outputs)
    decoder = Decoder(spec)
    acc = Agreement(float(spec.pif_stride))
    for batch in batches:
        feed = {spec.input.name: batch}
        ref = dict(zip(names, ref_sess.run(names, feed)))
        test = dict(zip(names, test_sess.run(names, feed)))
        acc.add_fields(ref, test)
        for i in range(batch.shape[0]):
            acc.add(decoder({k: v[i:i + 1] for k, v in ref.items()}), decoder({k: v[i:i + 1] for k, v in test.items()}))
    return acc.summary()
