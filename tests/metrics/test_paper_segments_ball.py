"""pSQ/pDQ and bDQ of the paper protocol: hand-computed known answers on small constructed frames.

The rules are those of metrics/paper.py (their eval_oks_pq.py with panopticapi) and metrics/paper_ball.py
(their ball_metrics.py); each number below is worked out by hand in the comments.
"""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.annotations import Annotation
from dsl_deploy.errors import InputError
from dsl_deploy.metrics.evaluator import PROTOCOLS, Evaluator, format_table
from dsl_deploy.metrics.paper import paper_panoptic_counts
from dsl_deploy.metrics.paper_ball import PaperBallAccumulator, heatmap_uint8, in_ball_disc
from dsl_deploy.result import Ball, FrameResult


def _crowd_frame():
    """Player 1 (x 60..80, 800 px) alone; two players x 10..20 and 20..30 (400 px each) annotated only as one
    crowd region of 800 px; the network finds all three players separately."""
    h, w = 50, 100
    gt = np.zeros((h, w), np.int32)
    gt[5:45, 60:80] = 1
    crowd = np.zeros((h, w), bool)
    crowd[5:45, 10:30] = True
    pred = np.zeros((h, w), np.int32)
    pred[5:45, 60:80] = 1
    pred[5:45, 10:20] = 2
    pred[5:45, 20:30] = 3
    return pred, gt, crowd


def test_crowd_mask_is_a_player_segment() -> None:
    pred, gt, crowd = _crowd_frame()
    # Each half covers the crowd segment with IoU 400 / 800 = 0.5, not > 0.5: no match. TP 1 (IoU 1),
    # FP 2, FN 1 (the crowd): pSQ = 1, pDQ = 1 / (1 + 2/2 + 1/2) = 0.4.
    c = paper_panoptic_counts(pred, gt, crowd=crowd)
    assert (c.tp, c.fp, c.fn) == (1, 2, 1) and c.sq == pytest.approx(1.0) and c.dq == pytest.approx(0.4)
    # One prediction over the whole crowd matches it (IoU 1): TP 2, pDQ 1.
    merged = np.where(pred == 3, 2, pred)
    c = paper_panoptic_counts(merged, gt, crowd=crowd)
    assert (c.tp, c.fp, c.fn) == (2, 0, 0) and c.dq == 1.0
    # The coco protocol makes the crowd void: the two halves lie in it and are ignored; pDQ 1.
    ann = Annotation(gt, np.zeros((1, 17, 3)), ignore=crowd.copy(), crowd=crowd)
    res = FrameResult.empty(*gt.shape)
    res.labels, res.keypoints, res.scores = pred, np.zeros((3, 17, 3), np.float32), np.ones(3, np.float32)
    ev = Evaluator(protocol="paper")
    ev.add(res, ann)
    s = ev.summary()
    assert s["pDQ"] == pytest.approx(40) and s["pSQ"] == pytest.approx(100)
    assert s["protocols"]["coco"]["pDQ"] == pytest.approx(100)


def test_no_void_and_small_segments() -> None:
    h, w = 40, 40
    gt = np.zeros((h, w), np.int32)
    gt[0:3, 0:3] = 1  # 9 px: background for the paper (their loader skips masks under 10 px)
    gt[10:30, 10:20] = 2  # 200 px
    ignore = np.zeros((h, w), bool)
    ignore[30:40, 25:40] = True
    pred = np.zeros((h, w), np.int32)
    pred[10:30, 10:18] = 1  # 160 of the 200 px: IoU 0.8
    pred[12:20, 18:22] = 2  # a 32 px sliver beside player 2 (8 px on it): IoU 8 / 224, a FP
    pred[31:40, 26:40] = 3  # on the ignore region: a FP too, no void here
    c = paper_panoptic_counts(pred, gt)
    assert (c.tp, c.fp, c.fn) == (1, 2, 0) and c.sq == pytest.approx(0.8)
    keep = np.array([True, False, False])  # predictions dropped by the pose step become background
    c = paper_panoptic_counts(pred, gt, keep=keep)
    assert (c.tp, c.fp, c.fn) == (1, 0, 0)
    with pytest.raises(InputError, match="keep: 1 flags for 3"):
        paper_panoptic_counts(pred, gt, keep=keep[:1])


def test_uint8_score_as_imageio_writes_the_map() -> None:
    # floor(255 v + 0.499999999) within [0, 1]; a map above 1 is stretched to a maximum of 255.
    values = (0.0, 0.001, 0.002, 0.2, 0.5, 0.6, 0.9, 1.0, 1.7)
    assert [heatmap_uint8(v) for v in values] == [0, 0, 1, 51, 127, 153, 229, 255, 255]
    with pytest.raises(InputError, match="finite"):
        heatmap_uint8(float("nan"))


def test_ball_just_outside_the_disc() -> None:
    ball = (50.7, 40.2, 5.9)  # disc centre (50, 40), radius int(5.9) = 5
    assert in_ball_disc(55, 40, ball) and in_ball_disc(54, 43, ball)  # 5^2 + 0 and 4^2 + 3^2 = 25
    assert not in_ball_disc(56, 40, ball) and not in_ball_disc(54, 44, ball)  # 36 and 32 > 25
    # (56, 40) is 5.30 px from the annotated centre, inside its 5.9 px radius: the coco protocol's hit.
    acc = PaperBallAccumulator()
    acc.add(Ball(56.0, 40.0, 0.9), ball)
    assert acc.tp.sum() == 0 and acc.fp[0] == 1
    ev = Evaluator(protocol="paper")
    ev.add(FrameResult(**{**FrameResult.empty(80, 100).__dict__, "ball": Ball(56.0, 40.0, 0.9)}),
           Annotation(np.zeros((80, 100), np.int32), np.zeros((0, 17, 3)), ball=ball))
    assert ev.summary()["protocols"]["coco"]["counts"]["hits"] == 1


def test_bdq_known_answer() -> None:
    # A: ball, hit at 0.6 (153/255, equal to t = 0.6: not above it); B: ball, missed, 0.91 -> 232/255 = 0.910;
    # C: no ball, 0.31 -> 79/255 = 0.310; D: no ball, no detection. P = 2, N = 2. (0.9 itself would become
    # 229/255 = 0.898: 229.5 rounds down in imageio's floor(v + 0.499999999).)
    acc = PaperBallAccumulator()
    acc.add(Ball(10, 10, 0.6), (10.2, 10.4, 3.0))
    acc.add(Ball(40, 10, 0.91), (10.0, 10.0, 3.0))
    acc.add(Ball(20, 20, 0.31), None)
    acc.add(None, None)
    c = acc.curve()
    t = np.array(c["thresholds"])
    # TP rate 1/2 while 0.6 > t (t <= 0.55); FP rate (B while t <= 0.90, C while t <= 0.30) / 4 frames.
    np.testing.assert_allclose(c["tp_rate"], np.where(t < 0.575, 0.5, 0.0))
    np.testing.assert_allclose(c["fp_rate"], np.where(t < 0.325, 0.5, np.where(t < 0.925, 0.25, 0.0)))
    # Polyline (0,0) -> (0.25,0) -> (0.25,0.5) -> (0.5,0.5) -> closed at (1,1):
    # 0 + 0 + 0.25 x 0.5 + 0.5 x (0.5 + 1) / 2 = 0.125 + 0.375 = 0.5; without the closing segment 0.125.
    assert acc.bdq() == pytest.approx(0.5) and acc.bdq_open() == pytest.approx(0.125)
    assert np.isnan(PaperBallAccumulator().bdq())  # no ball anywhere: undefined


def test_evaluator_protocol_choice_and_table_title() -> None:
    with pytest.raises(InputError, match="protocol 'voc'"):
        Evaluator(protocol="voc")
    pred, gt, crowd = _crowd_frame()
    ann = Annotation(gt, np.zeros((1, 17, 3)), ignore=crowd.copy(), crowd=crowd)
    res = FrameResult.empty(*gt.shape)
    res.labels, res.keypoints, res.scores = pred, np.zeros((3, 17, 3), np.float32), np.ones(3, np.float32)
    summaries = {}
    for protocol in PROTOCOLS:
        ev = Evaluator(protocol=protocol)
        ev.add(res, ann)
        summaries[protocol] = s = ev.summary()
        assert s["protocol"] == protocol and s["pDQ"] == s["protocols"][protocol]["pDQ"]
        assert format_table([("m", s)]).splitlines()[0].startswith(f"protocol {protocol}:")
    assert summaries["paper"]["protocols"] == summaries["coco"]["protocols"]  # both carry both
