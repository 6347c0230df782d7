"""Map a FrameResult decoded at the network input back to the pixels of the original frame."""
from __future__ import annotations

import numpy as np

from ..errors import DslError
from ..preprocess import Letterbox
from ..result import Ball, FrameResult

LABEL_MODES = ("frame", "crop")


def _clip_xy(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    # Points decoded in the letterbox padding lie outside the frame; pin them to its border.
    xy[..., 0] = xy[..., 0].clip(0.0, width - 1.0)
    xy[..., 1] = xy[..., 1].clip(0.0, height - 1.0)
    return xy


def result_to_frame(result: FrameResult, lb: Letterbox, *, labels: str = "frame") -> FrameResult:
    """A copy of `result` in frame coordinates (keypoints, centres, ball, boxes, areas, label map).

    labels='frame': the label map is cropped to the letterboxed content and resized (nearest) to the
    frame, so masks and areas are in frame pixels. labels='crop': the map is only cropped, staying at
    network resolution (resized_height x resized_width, cheaper for large frames); mask pixel (u, v)
    covers frame pixel ((u + 0.5) / scale_x - 0.5, (v + 0.5) / scale_y - 0.5), and areas are scaled to
    frame pixels.
    """
    if labels not in LABEL_MODES:
        raise DslError(f"labels: expected one of {', '.join(LABEL_MODES)}, got {labels!r}")
    lab_h, lab_w = result.labels.shape
    in_h = lb.pad_y * 2 + lb.resized_height
    in_w = lb.pad_x * 2 + lb.resized_width
    if abs(lab_h - in_h) > 1 or abs(lab_w - in_w) > 1:
        raise DslError(f"decoder: label map is {lab_w}x{lab_h}, expected the network input size about "
                       f"{in_w}x{in_h}")
    w, h = lb.frame_width, lb.frame_height
    n = result.num_players

    kp = np.array(result.keypoints, dtype=np.float32, copy=True)
    if kp.size:
        found = kp[..., 2:3] > 0
        kp[..., :2] = np.where(found, _clip_xy(lb.to_frame(kp[..., :2]), w, h), 0.0)
    centers = _clip_xy(lb.to_frame(result.centers.reshape(-1, 2)), w, h) if n else result.centers.copy()
    boxes = lb.boxes_to_frame(result.boxes) if n else result.boxes.copy()
    ball = None
    if result.ball is not None:
        bx, by = _clip_xy(lb.to_frame(np.array([[result.ball.x, result.ball.y]], np.float32)), w, h)[0]
        ball = Ball(float(bx), float(by), float(result.ball.score))

    if labels == "frame":
        label_map = lb.labels_to_frame(np.ascontiguousarray(result.labels, dtype=np.int32))
        areas = np.bincount(label_map.ravel(), minlength=n + 1)[1:n + 1].astype(np.int64)
    else:
        label_map = np.ascontiguousarray(result.labels[lb.pad_y:lb.pad_y + lb.resized_height,
                                                       lb.pad_x:lb.pad_x + lb.resized_width], dtype=np.int32)
        areas = np.round(np.asarray(result.areas, np.float64) / (lb.scale_x * lb.scale_y)).astype(np.int64)

    return FrameResult(labels=label_map, keypoints=kp, scores=np.array(result.scores, np.float32),
                       boxes=boxes.astype(np.float32), areas=areas, centers=centers.astype(np.float32), ball=ball,
                       timings=dict(result.timings), frame_index=result.frame_index, timestamp=result.timestamp)
