"""Geometric augmentation that keeps image, masks, keypoints and ball consistent (Sec. 4: flip, scale,
rotation, random crop to the network size), and the letterbox resize to the network input.

Coordinates follow docs/architecture.md: pixel (x, y) is the centre of the pixel at column x, row y,
which is also OpenCV's convention for warpAffine, so points move by the same matrix as the pixels.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from ..errors import DataError
from ..preprocess import letterbox_params
from ..spec import NUM_BODY_PARTS, ModelSpec, flip_permutation
from .annotations import Annotation


def _check(image: np.ndarray, ann: Annotation) -> None:
    """Image and annotation must describe the same pixels."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"annotation {ann.image_id or '<unnamed>'}: expected a BGR uint8 [H, W, 3] image, got "
                        f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
    if image.shape[:2] != ann.instances.shape:
        raise DataError(f"annotation {ann.image_id or '<unnamed>'}: image is {image.shape[1]}x{image.shape[0]} but "
                        f"the label map is {ann.width}x{ann.height}")


def _move_points(ann: Annotation, m: np.ndarray) -> np.ndarray:
    """Keypoints through the 2x3 affine m; unlabelled ones (v = 0) stay at (0, 0, 0)."""
    kp = ann.keypoints.astype(np.float32, copy=True)
    xy = kp[..., :2] @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
    on = kp[..., 2] > 0
    kp[..., :2] = np.where(on[..., None], xy, 0.0)
    return kp


def _drop_vanished(ann: Annotation) -> Annotation:
    """Remove players with no pixel left and no labelled keypoint inside the image; relabel compactly."""
    n = ann.num_players
    if n == 0:
        return ann
    area = np.bincount(ann.instances.ravel(), minlength=n + 1)[1:n + 1]
    kp = ann.keypoints
    inside = ((kp[..., 2] > 0) & (kp[..., 0] >= -0.5) & (kp[..., 0] < ann.width - 0.5)
              & (kp[..., 1] >= -0.5) & (kp[..., 1] < ann.height - 0.5)).any(axis=1)
    keep = (area > 0) | inside
    if keep.all():
        return ann
    table = np.zeros(n + 1, np.int32)
    table[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return replace(ann, instances=table[ann.instances], keypoints=kp[keep])


def warp(image: np.ndarray, ann: Annotation, matrix: np.ndarray, width: int, height: int,
         pad_value: int = 0) -> tuple[np.ndarray, Annotation]:
    """Apply the 2x3 affine `matrix` (source -> output pixels) to image, masks, keypoints and ball."""
    _check(image, ann)
    m = np.asarray(matrix, np.float64).reshape(2, 3)
    size = (int(width), int(height))
    out = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(pad_value,) * 3)
    # Labels as float32 (exact below 2^24) since OpenCV's nearest warp does not take int32 on every build.
    labels = cv2.warpAffine(ann.instances.astype(np.float32), m, size, flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.int32)

    def mask(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        return cv2.warpAffine(a.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)

    ball = None
    if ann.ball is not None:
        bx, by, r = ann.ball
        x, y = m[:, :2] @ np.array([bx, by]) + m[:, 2]
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        if -0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5:
            ball = (float(x), float(y), float(r) * scale)
    res = replace(ann, instances=labels, keypoints=_move_points(ann, m), ball=ball, ignore=mask(ann.ignore),
                  court=mask(ann.court), crowd=mask(ann.crowd))
    return out, _drop_vanished(res)


def hflip(image: np.ndarray, ann: Annotation) -> tuple[np.ndarray, Annotation]:
    """Mirror left-right; COCO keypoints swap their left/right slots (spec.flip_permutation)."""
    _check(image, ann)
    w = ann.width
    kp = ann.keypoints.astype(np.float32, copy=True)
    on = kp[..., 2] > 0
    kp[..., 0] = np.where(on, (w - 1) - kp[..., 0], 0.0)
    if ann.pose_format == "coco":
        kp = kp[:, flip_permutation()[:NUM_BODY_PARTS]]

    def flip(a: np.ndarray | None) -> Any:
        return None if a is None else np.ascontiguousarray(a[:, ::-1])

    ball = None if ann.ball is None else ((w - 1) - ann.ball[0], ann.ball[1], ann.ball[2])
    res = replace(ann, instances=flip(ann.instances), keypoints=kp, ball=ball, ignore=flip(ann.ignore),
                  court=flip(ann.court), crowd=flip(ann.crowd))
    return np.ascontiguousarray(image[:, ::-1]), res


def random_augment(image: np.ndarray, ann: Annotation, spec: ModelSpec, rng: np.random.Generator, *,
            flip_probability: float = 0.5, scale_range: tuple[float, float] = (0.7, 1.4),
            max_rotation: float = 15.0, base_scale: float = 1.0) -> tuple[np.ndarray, Annotation]:
    """Random flip, scale (times base_scale), rotation (degrees) and crop/pad to the spec's input size."""
    _check(image, ann)
    if not (0 < scale_range[0] <= scale_range[1]) or base_scale <= 0 or max_rotation < 0:
        raise DataError(f"random_augment: scale_range {scale_range}, base_scale {base_scale} and max_rotation "
                        f"{max_rotation} must be positive (ranges ordered)")
    if rng.random() < flip_probability:
        image, ann = hflip(image, ann)
    s = base_scale * float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    angle = rng.uniform(-max_rotation, max_rotation)
    h, w = ann.height, ann.width
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, s)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64) @ m[:, :2].T + m[:, 2]
    lo, hi = corners.min(0), corners.max(0)
    out_w, out_h = spec.input.width, spec.input.height
    # Choose the crop window's origin: inside the content when it is larger, else a random padding.
    origin = []
    for a, b, size in ((lo[0], hi[0], out_w), (lo[1], hi[1], out_h)):
        span = b - a + 1
        origin.append(a + rng.uniform(0, span - size) if span > size else a - rng.uniform(0, size - span))
    m[:, 2] -= np.array(origin)
    return warp(image, ann, m, out_w, out_h, spec.input.pad_value)




def resize_to_input(image: np.ndarray, ann: Annotation, spec: ModelSpec) -> tuple[np.ndarray, Annotation]:
    """Letterbox image and annotation to the network input, pixel-exactly as Preprocessor does."""
    _check(image, ann)
    lb = letterbox_params(ann.width, ann.height, spec.input.width, spec.input.height)
    canvas = np.full((spec.input.height, spec.input.width, 3), spec.input.pad_value, np.uint8)
    interp = cv2.INTER_AREA if lb.scale_x < 1.0 else cv2.INTER_LINEAR
    y0, x0 = lb.pad_y, lb.pad_x
    canvas[y0:y0 + lb.resized_height, x0:x0 + lb.resized_width] = cv2.resize(
        image, (lb.resized_width, lb.resized_height), interpolation=interp)
    # Nearest source pixel of each output pixel centre, in the same convention as Letterbox.to_frame.
    rows = np.clip(np.floor((np.arange(lb.resized_height) + 0.5) / lb.scale_y), 0, ann.height - 1).astype(np.intp)
    cols = np.clip(np.floor((np.arange(lb.resized_width) + 0.5) / lb.scale_x), 0, ann.width - 1).astype(np.intp)

    def mask(a: np.ndarray | None, dtype: Any) -> Any:
        if a is None:
            return None
        out = np.zeros((spec.input.height, spec.input.width), dtype)
        out[y0:y0 + lb.resized_height, x0:x0 + lb.resized_width] = a[np.ix_(rows, cols)]
        return out

    kp = ann.keypoints.astype(np.float32, copy=True)
    on = kp[..., 2] > 0
    kp[..., :2] = np.where(on[..., None], lb.to_input(kp[..., :2]), 0.0)
    ball = None
    if ann.ball is not None:
        bx, by = lb.to_input(np.array(ann.ball[:2], np.float32))
        ball = (float(bx), float(by), float(ann.ball[2]) * float(np.sqrt(lb.scale_x * lb.scale_y)))
    res = replace(ann, instances=mask(ann.instances, np.int32), keypoints=kp, ball=ball,
                  ignore=mask(ann.ignore, bool), court=mask(ann.court, bool), crowd=mask(ann.crowd, bool))
    return canvas, _drop_vanished(res)
