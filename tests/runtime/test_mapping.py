"""result_to_frame: keypoints, centres, ball, boxes, masks and areas go back through the letterbox."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.errors import DslError
from dsl_deploy.preprocess import letterbox_params
from dsl_deploy.result import Ball, FrameResult
from dsl_deploy.runtime.mapping import result_to_frame

FRAME_W, FRAME_H, SIZE = 300, 150, 129


def _input_result(lb, frame_rect, frame_points):
    """A result at network input whose player covers `frame_rect` (x0, y0, x1, y1) of the frame."""
    x0, y0 = lb.to_input(np.array([frame_rect[0], frame_rect[1]], np.float32))
    x1, y1 = lb.to_input(np.array([frame_rect[2] - 1, frame_rect[3] - 1], np.float32))
    labels = np.zeros((SIZE, SIZE), np.int32)
    labels[int(round(y0)):int(round(y1)) + 1, int(round(x0)):int(round(x1)) + 1] = 1
    kp = np.zeros((1, 17, 3), np.float32)
    pts_in = lb.to_input(frame_points)
    kp[0, :len(frame_points), :2] = pts_in
    kp[0, :len(frame_points), 2] = 0.8
    ys, xs = np.nonzero(labels)
    return FrameResult(
        labels=labels, keypoints=kp, scores=np.array([0.9], np.float32),
        boxes=np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32),
        areas=np.array([xs.size], np.int64), centers=pts_in[:1].copy(),
        ball=Ball(float(pts_in[1, 0]), float(pts_in[1, 1]), 0.7), timings={"fuse": 1.0}, frame_index=5)


def test_points_boxes_and_masks_come_back_in_frame_pixels():
    lb = letterbox_params(FRAME_W, FRAME_H, SIZE, SIZE)
    assert lb.pad_y > 0  # a wide frame is letterboxed top and bottom
    rect = (60, 30, 120, 90)
    pts = np.array([[90.0, 60.0], [250.0, 20.0], [10.0, 140.0]], np.float32)
    out = result_to_frame(_input_result(lb, rect, pts), lb)
    assert out.labels.shape == (FRAME_H, FRAME_W)
    np.testing.assert_allclose(out.keypoints[0, :3, :2], pts, atol=1e-3)
    np.testing.assert_array_equal(out.keypoints[0, 3:], 0)  # parts not found stay (0, 0, 0)
    np.testing.assert_allclose(out.centers[0], pts[0], atol=1e-3)
    assert (out.ball.x, out.ball.y) == pytest.approx((250.0, 20.0), abs=1e-3) and out.ball.score == pytest.approx(0.7)
    # The mask is sampled at network resolution: edges are within one input pixel (1/scale frame pixels).
    tol = 1.0 / lb.scale_x + 1
    np.testing.assert_allclose(out.boxes[0], rect, atol=tol)
    truth = np.zeros((FRAME_H, FRAME_W), bool)
    truth[rect[1]:rect[3], rect[0]:rect[2]] = True
    iou = (out.mask(0) & truth).sum() / (out.mask(0) | truth).sum()
    assert iou > 0.9
    assert out.areas[0] == out.mask(0).sum()  # areas in frame pixels, consistent with the mask
    assert out.frame_index == 5 and out.timings == {"fuse": 1.0}


def test_points_in_the_padding_are_pinned_to_the_frame():
    lb = letterbox_params(FRAME_W, FRAME_H, SIZE, SIZE)
    res = FrameResult.empty(SIZE, SIZE)
    res.ball = Ball(64.0, 1.0, 0.5)  # top padding row
    out = result_to_frame(res, lb)
    assert out.ball.y == 0.0 and 0 <= out.ball.x <= FRAME_W - 1
    assert out.num_players == 0 and out.labels.shape == (FRAME_H, FRAME_W)


def test_crop_mode_keeps_network_resolution():
    lb = letterbox_params(FRAME_W, FRAME_H, SIZE, SIZE)
    res = _input_result(lb, (60, 30, 120, 90), np.array([[90.0, 60.0], [250.0, 20.0]], np.float32))
    out = result_to_frame(res, lb, labels="crop")
    assert out.labels.shape == (lb.resized_height, lb.resized_width)
    assert out.areas[0] == pytest.approx(res.areas[0] / (lb.scale_x * lb.scale_y), rel=1e-6, abs=1)
    np.testing.assert_allclose(out.keypoints[0, 0, :2], [90.0, 60.0], atol=1e-3)


def test_wrong_label_size_and_mode_are_refused():
    lb = letterbox_params(FRAME_W, FRAME_H, SIZE, SIZE)
    with pytest.raises(DslError, match="label map is 64x64"):
        result_to_frame(FrameResult.empty(64, 64), lb)
    with pytest.raises(DslError, match="labels"):
        result_to_frame(FrameResult.empty(SIZE, SIZE), lb, labels="full")
