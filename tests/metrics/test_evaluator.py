"""Evaluator: frames in, the paper's measures out; the table layout; DeepSport poses; error paths."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.annotations import Annotation
from dsl_deploy.errors import InputError
from dsl_deploy.metrics.coco_format import result_records
from dsl_deploy.metrics.evaluator import SUMMARY_KEYS, Evaluator, format_table
from dsl_deploy.result import Ball, FrameResult


def _frame(shape=(80, 100), boxes=((10, 10, 30, 60), (50, 20, 70, 70)), seed=0):
    """An annotation and a perfect result for it."""
    rng = np.random.default_rng(seed)
    inst = np.zeros(shape, np.int32)
    kps = np.zeros((len(boxes), 17, 3))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        inst[y0:y1, x0:x1] = i + 1
        kps[i, :, 0] = rng.uniform(x0, x1, 17)
        kps[i, :, 1] = rng.uniform(y0, y1, 17)
        kps[i, :, 2] = 2
    ann = Annotation(instances=inst, keypoints=kps, ball=(40.0, 5.0, 3.0))
    res = FrameResult.empty(*shape)
    res.labels = inst.copy()
    res.keypoints = np.concatenate([kps[:, :, :2], np.full((len(boxes), 17, 1), 0.9)], 2).astype(np.float32)
    res.scores = np.linspace(0.9, 0.5, len(boxes)).astype(np.float32)
    res.ball = Ball(40.0, 6.0, 0.8)
    res.timings = {"total": 12.0}
    return res, ann


def test_perfect_frames_score_100() -> None:
    ev = Evaluator()
    for seed in range(3):
        res, ann = _frame(seed=seed)
        ev.add(res, ann)
    noball = FrameResult.empty(80, 100)
    noball.ball = Ball(3.0, 3.0, 0.1)
    ev.add(noball, Annotation(instances=np.zeros((80, 100), np.int32), keypoints=np.zeros((0, 17, 3))))
    s = ev.summary()
    assert set(SUMMARY_KEYS) <= set(s)
    assert s["pSQ"] == pytest.approx(100) and s["pDQ"] == pytest.approx(100)
    assert s["AP"] == pytest.approx(100) and s["AR"] == pytest.approx(100) and s["F1"] == pytest.approx(100)
    assert s["bDQ"] == pytest.approx(100)
    assert s["frames"] == 4 and s["failed"] == 0 and s["ms"] == pytest.approx(12.0)
    table = format_table([("DeepSportLab (test)", {**s, "MB": 812.4})])
    title, head, _, row = table.splitlines()
    assert title.startswith("protocol coco: COCO OKS AP/AR")
    assert head.split() == ["Method", "bDQ", "pSQ", "pDQ", "AP", "AR", "F1", "ms", "MB"]
    assert row.split()[-5:] == ["100.0", "12.0", "±", "0.0", "812"]
    paper = s["protocols"]["paper"]  # the same frames by the authors' rules: perfect too
    assert paper["pSQ"] == pytest.approx(100) and paper["pDQ"] == pytest.approx(100)
    assert paper["AP"] == pytest.approx(100) and paper["AR"] == pytest.approx(100) and paper["F1"] == pytest.approx(50)
    assert s["protocols"]["coco"]["AP"] == s["AP"] and s["protocol"] == "coco"


def test_degraded_result_and_failures() -> None:
    ev = Evaluator()
    res, ann = _frame()
    res.labels[res.labels == 2] = 0  # the second player is not found at all
    res.keypoints = res.keypoints[:1]
    res.scores = res.scores[:1]
    ev.add(res, ann)
    ev.add_failure("frame-7", "backend error")
    s = ev.summary()
    assert s["pDQ"] == pytest.approx(100 * 1 / 1.5) and s["AR"] == pytest.approx(50)
    assert s["F1_paper"] == pytest.approx(s["F1"] / 2, abs=1e-3)
    assert s["bDQ"] is None  # one frame, one ball: no negative sample, undefined
    assert s["failed"] == 1 and ev.failures == [("frame-7", "backend error")]
    assert "-" in format_table([("x", s)]).splitlines()[3].split()


def test_deepsport_poses_with_swapped_feet() -> None:
    res, ann = _frame()
    kp = ann.keypoints
    ds = np.zeros((kp.shape[0], 4, 3))
    ds[:, 0, :2] = (kp[:, 3, :2] + kp[:, 4, :2]) / 2
    ds[:, 1, :2] = (kp[:, 11, :2] + kp[:, 12, :2]) / 2
    ds[:, 2, :2], ds[:, 3, :2] = kp[:, 16, :2], kp[:, 15, :2]  # foot 1 is the right ankle
    ds[:, :, 2] = 2
    ann_ds = Annotation(instances=ann.instances, keypoints=ds, ball=ann.ball, pose_format="deepsport")
    ev = Evaluator()
    ev.add(res, ann_ds)
    s = ev.summary()
    assert s["pose_format"] == "deepsport" and s["AP"] == pytest.approx(100)
    with pytest.raises(InputError, match="mix pose formats"):
        ev.add(res, ann)


def test_court_discards_off_court_player_everywhere() -> None:
    res, ann = _frame()
    court = np.ones(ann.instances.shape, bool)
    court[:, 40:] = False  # player 2 (x 50..70) stands off the court
    ann.court = court
    res.labels[res.labels == 2] = 0  # and is not detected: no penalty
    res.keypoints, res.scores = res.keypoints[:1], res.scores[:1]
    ev = Evaluator()
    ev.add(res, ann)
    s = ev.summary()
    assert s["pDQ"] == pytest.approx(100) and s["AP"] == pytest.approx(100) and s["AR"] == pytest.approx(100)


def test_size_mismatch_is_an_input_error() -> None:
    res, ann = _frame()
    with pytest.raises(InputError, match="frame coordinates"):
        Evaluator().add(FrameResult.empty(10, 10), ann)


def test_result_records_load_in_pycocotools() -> None:
    from pycocotools import mask as mask_utils

    res, _ = _frame()
    kps, segs = result_records(res, 3)
    assert len(kps) == len(segs) == 2 and len(kps[0]["keypoints"]) == 51
    rle = dict(segs[1]["segmentation"])
    rle["counts"] = rle["counts"].encode()
    np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), res.labels == 2)
