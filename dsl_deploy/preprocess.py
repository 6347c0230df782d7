"""Letterbox preprocessing shared by every backend, with the inverse mapping back to the frame."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .errors import InputError
from .spec import ModelSpec

try:  # the native letterbox (csrc/src/preprocess.cpp); without it, OpenCV and NumPy do the same work
    _native: Any = importlib.import_module(f"{__package__}._preprocess")
except ImportError:  # pragma: no cover - a source checkout without the built extension
    _native = None
NATIVE_MAX_SIDE = 32767  # dsl_preprocess.h's DSL_PREP_MAX_SIDE; larger frames take the OpenCV path


def native_preprocess_available() -> bool:
    """Whether the native letterbox is built and vectorised here (Preprocessor then uses it for 'box-linear' and
    'linear'; its portable loops give the same bytes but are no faster than OpenCV's SIMD resize)."""
    return _native is not None and bool(_native.vectorized())


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
        for view, pad, scale, side in ((b[:, 0::2], self.pad_x, self.scale_x, self.frame_width),
                                       (b[:, 1::2], self.pad_y, self.scale_y, self.frame_height)):
            view -= pad  # in place on the views: the float32 arithmetic of (v - pad) / scale, then the clip
            view /= scale
            np.clip(view, 0, side, out=view)
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


RESIZE_MODES = ("linear", "box-linear", "area")
# The resize used when a frame is shrunk into the network input (enlarging always uses INTER_LINEAR):
# 'area': INTER_AREA (~8 ms for 1080p -> 641x361 on one core); 'linear': INTER_LINEAR (~0.5 ms, aliases);
# 'box-linear': 2x2 box halvings (OpenCV's fast INTER_AREA by exactly 2) while the frame is still at least
# twice the target and its sides are even, then INTER_LINEAR (~1 ms); pixel centres stay where they were.
# Preprocessor's default stays 'area', as the training data are letterboxed (data.augment.resize_to_input), for
# training, validation and INT8 calibration. The runtime (Pipeline, dsl-infer) uses RUNTIME_RESIZE, 'box-linear',
# chosen by the decoded results on synthetic scenes with a trained network (benchmarks/bench_preprocess.py,
# README "Broadcast frames"): at the 1080p -> 641 shrink factor they agree with 'area' as closely as 'area'
# agrees with itself on the frame after a JPEG round trip at quality 95, while 'linear' moves masks more.
DEFAULT_RESIZE = "area"
RUNTIME_RESIZE = "box-linear"
OUTPUTS = ("float", "uint8")  # normalised float32 NCHW, or letterboxed BGR uint8 NHWC


class Preprocessor:
    """BGR uint8 frames of any size -> letterboxed, normalised float32 NCHW batches of the spec's size.

    One pass over the frame: a resize to the letterboxed size (`resize`, see RESIZE_MODES), then per channel
    one multiply and one add (float32, the channel swap included) straight into the output buffer. The padding
    is written only when the letterbox changes. The output buffer is reused between calls of the same batch size
    and overwritten by the next call. `output='uint8'` stops before the normalisation: letterboxed BGR uint8
    [B, H, W, 3], for models whose graph normalises (export/uint8_input.py).

    'box-linear' and 'linear' run in the native core when it is built and vectorised here (`native=None`, the
    default; False: never; True: whenever it is built, else InputError): the same numbers, bit for bit
    (csrc/include/dsl_preprocess.h), in one pass over the frame, without the intermediate images.
    """

    def __init__(self, spec: ModelSpec, *, resize: str = DEFAULT_RESIZE, output: str = "float",
                 native: bool | None = None):
        if resize not in RESIZE_MODES:
            raise InputError(f"resize: expected one of {', '.join(RESIZE_MODES)}, got {resize!r}")
        if output not in OUTPUTS:
            raise InputError(f"output: expected one of {', '.join(OUTPUTS)}, got {output!r}")
        self.spec = spec
        self.resize = resize
        self.output = output
        inp = spec.input
        self.width, self.height = inp.width, inp.height
        # Normalisation folded into one multiply-add per channel, (v / 255 - mean) / std, in float32.
        self._scale = (1.0 / (255.0 * np.asarray(inp.std, np.float32))).astype(np.float32)
        self._shift = (-np.asarray(inp.mean, np.float32) / np.asarray(inp.std, np.float32)).astype(np.float32)
        # Output channel c reads BGR plane _src[c].
        self._src = (2, 1, 0) if inp.channels == "RGB" else (0, 1, 2)
        self._pad = int(inp.pad_value)
        self._buf: np.ndarray | None = None
        self._filled: list[tuple[int, int, int, int] | None] = []
        if native and _native is None:
            raise InputError("native: the native preprocess module (dsl_deploy._preprocess) is not built")
        use = native if native is not None else native_preprocess_available()
        self._native = _native.Preprocess() if use and _native is not None and resize != "area" else None
        self._norm = {"source_channel": self._src, "scale": [float(v) for v in self._scale],
                      "shift": [float(v) for v in self._shift]}

    def __call__(self, frames: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """Preprocess one frame or a list of frames; returns (batch [B,3,H,W] float32, letterboxes)."""
        if isinstance(frames, np.ndarray) and frames.ndim in (2, 3):
            frames = [frames]
        if len(frames) == 0:
            raise InputError("frames: empty batch")
        b = len(frames)
        if self._buf is None or self._buf.shape[0] != b:
            shape = (b, 3, self.height, self.width) if self.output == "float" else (b, self.height, self.width, 3)
            self._buf = np.empty(shape, np.float32 if self.output == "float" else np.uint8)
            self._filled = [None] * b
        boxes = []
        for i, frame in enumerate(frames):
            frame = check_frame(frame, f"frames[{i}]" if b > 1 else "frame")
            lb = letterbox_params(frame.shape[1], frame.shape[0], self.width, self.height)
            if self._native is not None and max(frame.shape[:2]) <= NATIVE_MAX_SIDE:
                self._native_fill(i, lb, frame)
            else:
                self._fill(i, lb, self._resized(frame, lb))
            boxes.append(lb)
        return self._buf, boxes

    def _resized(self, frame: np.ndarray, lb: Letterbox) -> np.ndarray:
        size = (lb.resized_width, lb.resized_height)
        if (frame.shape[1], frame.shape[0]) == size:
            return frame
        shrink = lb.scale_x < 1.0
        if shrink and self.resize == "box-linear":
            while (frame.shape[1] >= 2 * size[0] and frame.shape[0] >= 2 * size[1] and frame.shape[1] % 2 == 0
                   and frame.shape[0] % 2 == 0):
                frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
            if (frame.shape[1], frame.shape[0]) == size:
                return frame
        interp = cv2.INTER_AREA if shrink and self.resize == "area" else cv2.INTER_LINEAR
        return cv2.resize(frame, size, interpolation=interp)

    def _native_fill(self, i: int, lb: Letterbox, frame: np.ndarray) -> None:
        """Letterbox `frame` into batch slot i in the native core; pad around it if the geometry changed."""
        if frame.strides[2] != 1 or frame.strides[1] != 3 or frame.strides[0] < 3 * frame.shape[1]:
            frame = np.ascontiguousarray(frame)  # the core reads packed BGR pixels (rows may be strided)
        geometry = (lb.pad_x, lb.pad_y, lb.resized_width, lb.resized_height)
        write = self._filled[i] != geometry
        out = self._buf[i]  # type: ignore[index]  # made by __call__ before any fill
        native: Any = self._native
        if self.output == "uint8":
            native.uint8_input(frame, out, geometry, resize=self.resize, pad_value=self._pad, write_padding=write)
        else:
            native.float_input(frame, out, geometry, resize=self.resize, pad_value=self._pad, write_padding=write,
                               **self._norm)
        self._filled[i] = geometry

    def _fill(self, i: int, lb: Letterbox, image: np.ndarray) -> None:
        """Normalise `image` (the letterbox content) into batch slot i; pad around it if the geometry changed."""
        out = self._buf[i]  # type: ignore[index]  # made by __call__ before any fill
        geometry = (lb.pad_x, lb.pad_y, lb.resized_width, lb.resized_height)
        y0, x0 = lb.pad_y, lb.pad_x
        if self.output == "uint8":
            if self._filled[i] != geometry:
                out.fill(self._pad)
                self._filled[i] = geometry
            out[y0:y0 + lb.resized_height, x0:x0 + lb.resized_width] = image
            return
        if self._filled[i] != geometry:
            for c in range(3):
                out[c].fill(np.float32(self._pad) * self._scale[c] + self._shift[c])
            self._filled[i] = geometry
        for c in range(3):
            view = out[c, y0:y0 + lb.resized_height, x0:x0 + lb.resized_width]
            # A contiguous copy of the channel first: numpy's cast-and-multiply runs several times faster on it.
            np.multiply(np.ascontiguousarray(image[:, :, self._src[c]]), self._scale[c], out=view)
            view += self._shift[c]


def preprocess(frame: np.ndarray, spec: ModelSpec) -> tuple[np.ndarray, Letterbox]:
    """One frame -> ([1,3,H,W] float32 input, letterbox); allocates, for one-off use."""
    batch, boxes = Preprocessor(spec)(frame)
    return batch.copy(), boxes[0]
