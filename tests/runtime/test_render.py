"""draw_result: masks tinted per player, skeleton lines, ball marker; the input frame is left untouched."""
from __future__ import annotations

import numpy as np

from dsl_deploy.result import Ball, FrameResult
from dsl_deploy.runtime.render import draw_result, player_colours
from dsl_deploy.spec import SKELETON


def _result() -> FrameResult:
    labels = np.zeros((100, 120), np.int32)
    labels[20:80, 10:50] = 1
    kp = np.zeros((1, 17, 3), np.float32)
    a, b = SKELETON[0]
    kp[0, a] = (30, 70, 0.9)
    kp[0, b] = (30, 40, 0.8)
    return FrameResult(labels=labels, keypoints=kp, scores=np.array([0.9], np.float32),
                       boxes=np.array([[10, 20, 50, 80]], np.float32), areas=np.array([2400]),
                       centers=np.array([[30, 50]], np.float32), ball=Ball(100.0, 20.0, 0.5))


def test_overlay_marks_masks_skeleton_and_ball():
    frame = np.zeros((100, 120, 3), np.uint8)
    out = draw_result(frame, _result())
    assert frame.max() == 0 and out.shape == frame.shape
    assert out[50, 20].any() and not out[50, 90].any()  # inside the mask tinted, outside untouched
    assert out[20, 90:110].any()  # the ball ring
    no_masks = draw_result(frame, _result(), masks=False)
    assert not no_masks[50, 20].any()  # inside the box, off the bone: nothing drawn without masks
    assert no_masks[45:65, 30].all(axis=1).any()  # the bone between the two keypoints is drawn


def test_colours_are_distinct():
    c = player_colours(12)
    assert c.shape == (12, 3) and len({tuple(x) for x in c}) == 12
