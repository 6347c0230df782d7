"""Letterbox preprocessing shared by every backend, with the inverse mapping back to the frame."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InputError
from .spec import ModelSpec


@dataclass(frozen=True)
class Letterbox:
    """Affine map between a frame and the network input (pixel-centre convention, as cv2.resize)."""

    frame_width: int
    frame_height: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int
    resized_width: int
    resized_height: int

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Frame (x, y) -> network-input (x, y); any array with last dimension >= 2."""
        out = np.array(xy, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] + 0.5) * self.scale_x - 0.5 + self.pad_x
        out[..., 1] = (out[..., 1] + 0.5) * self.scale_y - 0.5 + self.pad_y
        return out

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """Network-input (x, y) -> frame (x, y); any array with last dimension >= 2."""
        out = np.array(xy, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] - self.pad_x + 0.5) / self.scale_x - 0.5
        out[..., 1] = (out[..., 1] - self.pad_y + 0.5) / self.scale_y - 0.5
        return out

    def boxes_to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """[N, 4] edge boxes (x0, y0, x1, y1) from input to frame pixels, clipped to the frame."""
        b = np.array(boxes, dtype=np.float32, copy=True).reshape(-1, 4)
        b[:, [0, 2]] = (b[:, [0, 2]] - self.pad_x) / self.scale_x
        b[:, [1, 3]] = (b[:, [1, 3]] - self.pad_y) / self.scale_y
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, self.frame_width)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, self.frame_height)
        return b

    def labels_to_frame(self, labels: np.ndarray) -> np.ndarray:
        """Crop the letterbox padding off a label map and resize it (nearest) to the frame size."""
        crop = labels[self.pad_y:self.pad_y + self.resized_height, self.pad_x:self.pad_x + self.resized_width]
        # INTER_NEAREST samples floor(x * scale), half a pixel off the pixel-centre convention used above.
        return cv2.resize(crop, (self.frame_width, self.frame_height), interpolation=cv2.INTER_NEAREST_EXACT)


def letterbox_params(frame_width: int, frame_height: int, width: int, height: int) -> Letterbox:
    """The letterbox that fits a frame into width x height keeping its aspect ratio, centred."""
    s = min(width / frame_width, height / frame_height)
    rw = max(1, min(width, int(round(frame_width * s))))
    rh = max(1, min(height, int(round(frame_height * s))))
    return Letterbox(frame_width, frame_height, rw / frame_width, rh / frame_height,
                     (width - rw) // 2, (height - rh) // 2, rw, rh)


def check_frame(frame: object, name: str = "frame") -> np.ndarray:
    """Validate a BGR uint8 frame (H x W x 3, or H x W grey) and return it as H x W x 3."""
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{name}: expected a numpy array (BGR uint8 image), got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InputError(f"{name}: expected dtype uint8, got {frame.dtype}")
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{name}: expected shape (H, W, 3), got {tuple(frame.shape)}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"{name}: empty frame of shape {tuple(frame.shape)}")
    return frame


class Preprocessor:
    """BGR uint8 frames of any size -> letterboxed, normalised float32 NCHW batches of the spec's size.

    Reuses its output buffer between calls of the same batch size, so the hot path allocates nothing
    but OpenCV's resize output; the returned array is overwritten by the next call.
    """

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        inp = spec.input
        self.width, self.height = inp.width, inp.height
        # Fold normalisation into one multiply-add per channel: (v / 255 - mean) / std.
        self._scale = (1.0 / (255.0 * np.asarray(inp.std, np.float32))).reshape(3, 1, 1)
        self._shift = (-np.asarray(inp.mean, np.float32) / np.asarray(inp.std, np.float32)).reshape(3, 1, 1)
        self._rgb = inp.channels == "RGB"
        self._pad = float(inp.pad_value)
        self._buf: np.ndarray | None = None

    def __call__(self, frames: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """Preprocess one frame or a list of frames; returns (batch [B,3,H,W] float32, letterboxes)."""
        if isinstance(frames, np.ndarray) and frames.ndim in (2, 3):
            frames = [frames]
        if len(frames) == 0:
            raise InputError("frames: empty batch")
        b = len(frames)
        if self._buf is None or self._buf.shape[0] != b:
            self._buf = np.empty((b, 3, self.height, self.width), np.float32)
        boxes = []
        canvas = np.empty((self.height, self.width, 3), np.uint8)
        for i, frame in enumerate(frames):
            frame = check_frame(frame, f"frames[{i}]" if b > 1 else "frame")
            lb = letterbox_params(frame.shape[1], frame.shape[0], self.width, self.height)
            canvas[:] = int(self._pad)
            interp = cv2.INTER_AREA if lb.scale_x < 1.0 else cv2.INTER_LINEAR
            resized = cv2.resize(frame, (lb.resized_width, lb.resized_height), interpolation=interp)
            canvas[lb.pad_y:lb.pad_y + lb.resized_height, lb.pad_x:lb.pad_x + lb.resized_width] = resized
            chw = canvas[:, :, ::-1] if self._rgb else canvas
            out = self._buf[i]
            np.multiply(chw.transpose(2, 0, 1), self._scale, out=out)
            out += self._shift
            boxes.append(lb)
        return self._buf, boxes


def preprocess(frame: np.ndarray, spec: ModelSpec) -> tuple[np.ndarray, Letterbox]:
    """One frame -> ([1,3,H,W] float32 input, letterbox); allocates, for one-off use."""
    batch, boxes = Preprocessor(spec)(frame)
    return batch.copy(), boxes[0]
