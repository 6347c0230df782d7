"""pEQ of the paper protocol: hand-computed known answers on small constructed frames.

The reference numbers are worked out by hand in the comments from the rules of metrics/paper_pose.py
(their eval_oks_pq.py): exp(-d / (2 s kappa^2)), d not squared, s the 4-point box area,
kappa = 0.8 x (0.15, 0.2, 0.2, 0.2), greedy matching without a threshold, AP = mean TP / predictions.
"""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.annotations import Annotation
from dsl_deploy.metrics.evaluator import Evaluator
from dsl_deploy.metrics.paper_pose import (PAPER_KAPPAS, PaperPoseAccumulator, on_court_points, paper_match,
                                           paper_oks_matrix, paper_points)
from dsl_deploy.result import FrameResult

# A player 218 px tall and 20 px wide: head, hip, foot 1, foot 2; box area s = 20 * 218 = 4360.
PLAYER = np.array([[100.0, 10.0], [100.0, 110.0], [90.0, 228.0], [110.0, 228.0]])
E_HEAD_20 = 0.8527608  # exp(-20 / (2 * 4360 * 0.12^2)) = exp(-0.1592762)
E_HIP_20 = 0.9143033   # exp(-20 / (2 * 4360 * 0.16^2)) = exp(-0.0895929)


def skeleton(head, hip, foot1, foot2, score: float = 0.9) -> np.ndarray:
    """A [17, 3] COCO skeleton whose ears meet at `head`, hips at `hip`, ankles at foot1 (left), foot2 (right)."""
    kp = np.zeros((17, 3))
    for idx, (x, y) in ((3, (head[0] - 3, head[1])), (4, (head[0] + 3, head[1])), (11, (hip[0] - 6, hip[1])),
                        (12, (hip[0] + 6, hip[1])), (15, foot1), (16, foot2)):
        kp[idx] = (x, y, score)
    return kp


def deepsport(points: np.ndarray) -> np.ndarray:
    """[N, 4, 3] DeepSport annotation (all points labelled) from [N, 4, 2]."""
    pts = np.asarray(points, np.float64).reshape(-1, 4, 2)
    return np.concatenate([pts, np.full(pts.shape[:2] + (1,), 2.0)], axis=2)


def test_kappas_are_eval_oks_pq_values() -> None:
    assert PAPER_KAPPAS == pytest.approx((0.12, 0.16, 0.16, 0.16))


def test_point_20px_off_on_a_218px_player() -> None:
    head_off = PLAYER.copy()
    head_off[0, 0] += 20
    assert paper_oks_matrix(PLAYER[None], head_off[None])[0, 0] == pytest.approx((E_HEAD_20 + 3) / 4, abs=1e-6)
    foot_off = PLAYER.copy()
    foot_off[2, 1] -= 20
    assert paper_oks_matrix(PLAYER[None], foot_off[None])[0, 0] == pytest.approx((E_HIP_20 + 3) / 4, abs=1e-6)
    # Head and hip both 20 px off: OKS = (0.8527608 + 0.9143033 + 2) / 4 = 0.941766: a TP at 0.50 .. 0.90,
    # not at 0.95. One prediction, one annotation: AP = AR = 9 / 10, F1 = 0.9 * 0.9 / 1.8 = 0.45.
    both = head_off.copy()
    both[1, 1] += 20
    acc = PaperPoseAccumulator()
    acc.add(skeleton(*both)[None], deepsport(PLAYER), pose_format="deepsport")
    assert acc.tp.tolist() == [1] * 9 + [0]
    s = acc.summary()
    assert s["AP"] == pytest.approx(0.9) and s["AR"] == pytest.approx(0.9) and s["F1"] == pytest.approx(0.45)
    assert s["AP50"] == 1.0 and s["AP75"] == 1.0


def test_feet_either_way_and_equal_feet() -> None:
    swapped = PLAYER[[0, 1, 3, 2]]
    assert paper_oks_matrix(PLAYER[None], swapped[None])[0, 0] == pytest.approx(1.0)
    # Annotated feet on the same point: only head and hip count, whatever the feet say.
    same = PLAYER.copy()
    same[3] = same[2]
    same[0, 0] += 10  # the box is then x 90..110, y 10..228: s = 20 * 218 = 4360 still
    pred = same.copy()
    pred[0, 0] += 20
    pred[2:] += 500
    assert paper_oks_matrix(same[None], pred[None])[0, 0] == pytest.approx((E_HEAD_20 + 1) / 2, abs=1e-6)
    # A flat box (all 4 points on one row) has s = 0: a point off by d > 0 scores exp(-d/0) = 0 and an
    # exact one exp(-0/0) = NaN, left out of the mean as numpy does in their code.
    flat = np.array([[0.0, 5.0], [10.0, 5.0], [20.0, 5.0], [30.0, 5.0]])
    off = flat.copy()
    off[0, 0] += 1
    assert paper_oks_matrix(flat[None], off[None])[0, 0] == 0.0
    assert np.isnan(paper_oks_matrix(flat[None], flat[None])[0, 0])


def test_undefined_predicted_points_are_left_out() -> None:
    kp = skeleton(*PLAYER)
    kp[[3, 4], 2] = 0  # no ear found: no head
    kp[15, 0] += 20  # left ankle 20 px off
    pts = paper_points(kp[None])
    assert np.isnan(pts[0, 0]).all() and np.isfinite(pts[0, 1:]).all()
    # Mean over hip, foot 1, foot 2 only: (1 + 0.9143033 + 1) / 3.
    assert paper_oks_matrix(PLAYER[None], pts)[0, 0] == pytest.approx((2 + E_HIP_20) / 3, abs=1e-6)
    kp[:, 2] = 0  # nothing found at all: no OKS
    assert np.isnan(paper_oks_matrix(PLAYER[None], paper_points(kp[None]))[0, 0])


def test_greedy_matching_by_annotation_order_without_threshold() -> None:
    # Annotation 0 takes its best prediction (1); annotation 1 takes what is left (0) even at OKS 0.05.
    taken, matched = paper_match(np.array([[0.3, 0.9], [0.05, 0.95]]))
    assert taken.tolist() == [1, 0] and matched == [0.9, 0.05]
    # No OKS for any free prediction: their loop takes an already taken one again (its real OKS counts).
    taken, matched = paper_match(np.array([[0.9, np.nan], [0.8, np.nan]]))
    assert taken.tolist() == [1, -1] and matched == [0.9, 0.8]
    # All undefined: the annotation takes none; more annotations than predictions: the rest find none.
    taken, matched = paper_match(np.array([[np.nan], [0.7], [0.6]]))
    assert taken.tolist() == [1] and matched == [0.7]


def _frame(court_x1: int, off_court_prediction: bool):
    """Player A on court, annotated with a pose and detected; prediction C at x ~ 300 finds no annotation;
    player B (x 340..360, a mask without a pose) is not detected."""
    h, w = 240, 400
    inst = np.zeros((h, w), np.int32)
    inst[10:229, 90:111] = 1
    inst[10:229, 340:361] = 2
    court = np.zeros((h, w), bool)
    court[:, :court_x1] = True
    ann = Annotation(inst, np.concatenate([deepsport(PLAYER), np.zeros((1, 4, 3))]), court=court,
                     pose_format="deepsport")
    res = FrameResult.empty(h, w)
    labels = np.where(inst == 1, 1, 0).astype(np.int32)
    labels[10:229, 290:311] = 2
    res.labels = labels
    c = PLAYER + (200 if off_court_prediction else 0, 0)
    res.keypoints = np.stack([skeleton(*PLAYER), skeleton(*c)]).astype(np.float32)
    res.scores = np.array([0.9, 0.8], np.float32)
    return res, ann


def test_off_court_prediction_is_dropped_only_when_unmatched() -> None:
    res, ann = _frame(court_x1=200, off_court_prediction=True)
    det = paper_points(res.keypoints)
    assert on_court_points(det, ann.court).tolist() == [True, False]
    acc = PaperPoseAccumulator()
    kept = acc.add(res.keypoints, ann.keypoints, pose_format="deepsport", court=ann.court)
    assert kept.tolist() == [True, False] and acc.predictions == 1 and acc.annotations == 1
    assert acc.summary()["AP"] == pytest.approx(1.0)  # 10 TP / 10 over 1 prediction
    # Two annotations: the second takes C (no threshold), so C stays although off the court.
    two = deepsport(np.stack([PLAYER, PLAYER + (250, 0)]))
    acc2 = PaperPoseAccumulator()
    assert acc2.add(res.keypoints, two, pose_format="deepsport", court=ann.court).tolist() == [True, True]


def test_off_court_player_in_the_evaluator() -> None:
    # C is off the court and unmatched: the paper drops it (pose and PQ). B, off the court and missed, is
    # a false negative, since their ground truth is not court-filtered: pDQ = 1 / (1 + 1/2) = 66.67.
    # The coco protocol discards both B and C: pDQ 100.
    res, ann = _frame(court_x1=200, off_court_prediction=True)
    ev = Evaluator(protocol="paper")
    ev.add(res, ann)
    s = ev.summary()
    assert s["protocol"] == "paper" and s["AP"] == pytest.approx(100) and s["AR"] == pytest.approx(100)
    assert (s["counts"]["players_fp"], s["counts"]["players_fn"]) == (0, 1) and s["pDQ"] == pytest.approx(200 / 3)
    assert s["protocols"]["coco"]["pDQ"] == pytest.approx(100)
    # The same C on the court is a false positive: AP = 10 TP / (2 x 10) = 50, F1 = 50 x 100 / 150 = 33.33;
    # pDQ = 1 / (1 + 1/2 + 1/2) = 50 (B is then on the court for the coco protocol too).
    res, ann = _frame(court_x1=400, off_court_prediction=True)
    ev = Evaluator(protocol="paper")
    ev.add(res, ann)
    s = ev.summary()
    assert s["AP"] == pytest.approx(50) and s["AR"] == pytest.approx(100) and s["pDQ"] == pytest.approx(50)
    assert s["F1"] == pytest.approx(100 / 3, abs=1e-3) and s["protocols"]["coco"]["pDQ"] == pytest.approx(50)


def test_coco_annotations_are_converted_and_must_have_four_points() -> None:
    gt = np.stack([skeleton(*PLAYER, score=2), skeleton(*PLAYER, score=2)])
    gt[1, 15, 2] = 0  # second annotation lacks its left ankle: not an annotated pose
    acc = PaperPoseAccumulator()
    acc.add(skeleton(*PLAYER)[None], gt, pose_format="coco")
    assert acc.annotations == 1 and acc.summary()["AR"] == pytest.approx(1.0)
