"""Map a FrameResult decoded at the network input back to the pixels of the original frame."""
from __future__ import annotations

import importlib
import threading
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from ..errors import DslError
from ..preprocess import Letterbox
from ..result import Ball, FrameResult
from ..rle import mask_to_rle

try:  # the native masks core (csrc/src/masks.cpp); without it, masks go through the dense frame map
    _masks: Any = importlib.import_module(f"{__package__}._masks")
except ImportError:  # pragma: no cover - a source checkout without the built extension
    _masks = None

LABEL_MODES = ("frame", "crop", "dense")
_local = threading.local()


def native_masks_available() -> bool:
    """Whether the native masks core is built (else labels='frame' falls back to the dense path)."""
    return _masks is not None


@lru_cache(maxsize=64)
def sampling_tables(crop_width: int, crop_height: int, frame_width: int, frame_height: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(columns, rows): the content pixel each frame column / row takes, as OpenCV's INTER_NEAREST_EXACT picks it."""
    def axis(src: int, dst: int) -> np.ndarray:
        table = cv2.resize(np.arange(src, dtype=np.int32)[None, :], (dst, 1), interpolation=cv2.INTER_NEAREST_EXACT)
        out = np.ascontiguousarray(table[0])
        out.setflags(write=False)
        return out
    return axis(crop_width, frame_width), axis(crop_height, frame_height)


class FrameMasks:
    """Players' masks at frame resolution, kept as the network-resolution labels plus the letterbox.

    The per-player COCO RLE and areas are computed natively without the frame-size label map; the map
    itself is built only when asked for (`frame_labels`), with the same sampling, so both agree pixel
    for pixel with `Letterbox.labels_to_frame`.
    """

    def __init__(self, labels: np.ndarray, box: tuple[int, int, int, int, int, int], num_players: int):
        self.labels = labels  # int32 [H, W] network resolution (the decoder's, not copied)
        self.box = box  # (frame_width, frame_height, crop_x, crop_y, crop_width, crop_height)
        self.columns, self.rows = sampling_tables(box[4], box[5], box[0], box[1])
        fm = getattr(_local, "masks", None)
        if fm is None:
            fm = _local.masks = _masks.FrameMasks()
        self.counts, self.offsets, self.areas = fm.rle(labels, num_players, box, self.columns, self.rows)
        self._lists: list[int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frame."""
        return (self.box[1], self.box[0])

    def rle(self, i: int) -> dict[str, Any]:
        """COCO uncompressed RLE of player i at frame resolution (as `mask_to_rle` of its frame mask)."""
        if self._lists is None:
            self._lists = self.counts.tolist()
        return {"size": [self.box[1], self.box[0]],
                "counts": self._lists[int(self.offsets[i]):int(self.offsets[i + 1])]}

    def run_lengths(self, i: int) -> np.ndarray:
        """Player i's run lengths (uint32)."""
        return self.counts[self.offsets[i]:self.offsets[i + 1]]

    def frame_labels(self) -> np.ndarray:
        """The frame-size label map, int32 [frame_height, frame_width]."""
        return _masks.frame_labels(self.labels, self.box, self.columns, self.rows)


class MappedResult(FrameResult):
    """A FrameResult in frame pixels whose frame-size label map is built only when `labels` is read.

    `rle(i)` and serialisation use the masks' run lengths, computed without the frame-size map. Setting
    `labels` replaces the masks (they are then taken from the new map).
    """

    def __init__(self, *args: Any, masks: FrameMasks | None = None, **kwargs: Any):
        self._masks = masks
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def labels(self) -> np.ndarray:
        """int32 [H, W] frame label map (built from the network labels on first read)."""
        value: np.ndarray = self.__dict__.get("_labels")  # type: ignore[assignment]  # set at init or here
        if value is None and self._masks is not None:
            value = self.__dict__["_labels"] = self._masks.frame_labels()
        return value

    @labels.setter
    def labels(self, value: np.ndarray | None) -> None:
        self.__dict__["_labels"] = value
        if value is not None:
            self._masks = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the label map (the frame)."""
        return self._masks.size if self._masks is not None else super().size

    def rle(self, i: int) -> dict[str, Any]:
        """COCO uncompressed RLE of player i (from the run lengths when the label map was not replaced)."""
        if self._masks is not None:
            if not 0 <= i < self.num_players:
                raise IndexError(f"player {i} out of range 0..{self.num_players - 1}")
            return self._masks.rle(i)
        return super().rle(i)


def _clip_xy(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    # Points decoded in the letterbox padding lie outside the frame; pin them to its border.
    xy[..., 0] = xy[..., 0].clip(0.0, width - 1.0)
    xy[..., 1] = xy[..., 1].clip(0.0, height - 1.0)
    return xy


def result_to_frame(result: FrameResult, lb: Letterbox, *, labels: str = "frame") -> FrameResult:
    """A copy of `result` in frame coordinates (keypoints, centres, ball, boxes, areas, masks).

    labels='frame': masks and areas in frame pixels, as the label map cropped to the letterboxed
    content and resized (nearest, pixel centres) to the frame; the RLE and areas are computed natively
    from the network-resolution labels and the frame-size map is built only if `labels` is read (a
    `MappedResult`). labels='dense': the same masks, the frame-size map built here (the path before
    the native masks; also the fallback when they are not built). labels='crop': the map is only
    cropped, staying at network resolution (resized_height x resized_width); mask pixel (u, v) covers
    frame pixel ((u + 0.5) / scale_x - 0.5, (v + 0.5) / scale_y - 0.5), and areas are scaled to frame
    pixels.
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
    # Keypoints, centres and the ball mapped in one pass (per point the same float32 arithmetic as one by one).
    parts = [kp[..., :2].reshape(-1, 2), np.asarray(result.centers, np.float32).reshape(-1, 2)]
    if result.ball is not None:
        parts.append(np.array([[result.ball.x, result.ball.y]], np.float32))
    points = _clip_xy(lb.to_frame(np.concatenate(parts)), w, h)
    n_kp, n_c = len(parts[0]), len(parts[1])
    if kp.size:
        kp[..., :2] = np.where(kp[..., 2:3] > 0, points[:n_kp].reshape(kp[..., :2].shape), 0.0)
    centers = points[n_kp:n_kp + n_c] if n else result.centers.copy()
    boxes = lb.boxes_to_frame(result.boxes) if n else result.boxes.copy()
    ball = None
    if result.ball is not None:
        ball = Ball(float(points[-1, 0]), float(points[-1, 1]), float(result.ball.score))
    common: dict[str, Any] = dict(keypoints=kp, scores=np.array(result.scores, np.float32),
                                  boxes=boxes.astype(np.float32), centers=centers.astype(np.float32), ball=ball,
                                  timings=dict(result.timings), frame_index=result.frame_index,
                                  timestamp=result.timestamp)

    # The content rectangle, clipped to the map as slicing clips it (a map one pixel short of the input).
    crop_w = min(lb.resized_width, lab_w - lb.pad_x)
    crop_h = min(lb.resized_height, lab_h - lb.pad_y)
    if labels == "frame" and _masks is not None and crop_w > 0 and crop_h > 0:
        net = np.ascontiguousarray(result.labels, dtype=np.int32)
        masks = FrameMasks(net, (w, h, lb.pad_x, lb.pad_y, crop_w, crop_h), n)
        return MappedResult(labels=None, areas=masks.areas, masks=masks, **common)
    if labels in ("frame", "dense"):
        label_map = lb.labels_to_frame(np.ascontiguousarray(result.labels, dtype=np.int32))
        areas = np.bincount(label_map.ravel(), minlength=n + 1)[1:n + 1].astype(np.int64)
    else:
        label_map = np.ascontiguousarray(result.labels[lb.pad_y:lb.pad_y + lb.resized_height,
                                                       lb.pad_x:lb.pad_x + lb.resized_width], dtype=np.int32)
        areas = np.round(np.asarray(result.areas, np.float64) / (lb.scale_x * lb.scale_y)).astype(np.int64)
    return FrameResult(labels=label_map, areas=areas, **common)


def dense_rle(result: FrameResult, i: int) -> dict[str, Any]:
    """Player i's RLE from the full label map (the reference the native path is tested against)."""
    return mask_to_rle(result.labels == (i + 1))
