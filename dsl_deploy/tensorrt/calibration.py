"""INT8 calibration: frames (a folder of images, a video or synthetic scenes) -> preprocessed batches.

The feed serves TensorRT's calibrator (dsl-build) and ONNX Runtime's Q/DQ calibration (dsl-export --precision
int8) alike; `calibration_sets` also gives held-out frames for the agreement check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..data.image_file import read_image_file
from ..errors import DataError, InputError
from ..export.metadata import INPUT_FLOAT, INPUT_UINT8
from ..preprocess import Preprocessor
from ..runtime.outputs import write_atomic
from ..spec import ModelSpec
from .api import TrtModule

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".ts", ".mpg", ".mpeg")

FrameSource = Callable[[int], np.ndarray]


class CalibrationFeed:
    """Serves `count // batch` full batches of preprocessed frames, in a fixed order (no CUDA needed): float32
    [B, 3, H, W], or letterboxed uint8 [B, H, W, 3] for a model that normalises in its graph (`input_format`)."""

    def __init__(self, frames: FrameSource, count: int, batch: int, spec: ModelSpec,
                 input_format: str = INPUT_FLOAT):
        if batch < 1:
            raise InputError(f"calibration batch: expected at least 1, got {batch}")
        if count < batch:
            raise InputError(f"calibration: {count} frame(s) is less than one batch of {batch}; "
                             "give more images or a smaller calibration batch")
        self.frames = frames
        self.batch = int(batch)
        self.num_batches = int(count) // self.batch
        self.dropped = int(count) - self.num_batches * self.batch  # a partial batch would bias the histograms
        uint8 = input_format == INPUT_UINT8
        self.preprocessor = Preprocessor(spec, output="uint8" if uint8 else "float")
        h, w = spec.input.height, spec.input.width
        self.shape = (self.batch, h, w, 3) if uint8 else (self.batch, 3, h, w)
        self.dtype = np.dtype(np.uint8 if uint8 else np.float32)
        self._next = 0

    def __len__(self) -> int:
        return self.num_batches

    @property
    def nbytes(self) -> int:
        """Bytes of one batch."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def reset(self) -> None:
        """Start again from the first batch."""
        self._next = 0

    def next_batch(self) -> np.ndarray | None:
        """The next batch (a fresh contiguous array of `shape` and `dtype`), or None when done."""
        if self._next >= self.num_batches:
            return None
        start = self._next * self.batch
        frames = [self.frames(start + k) for k in range(self.batch)]
        self._next += 1
        batch, _ = self.preprocessor(frames)
        return np.ascontiguousarray(batch, dtype=self.dtype).copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.reset()
        while (b := self.next_batch()) is not None:
            yield b


def folder_frames(folder: str | Path, count: int) -> tuple[FrameSource, int]:
    """Frames from a folder of images, spread evenly over its sorted files; returns (source, frames available)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: calibration image folder does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) for INT8 calibration")
    n = min(count, len(files))
    # Evenly spaced picks cover a whole match recording rather than its first seconds.
    picks = [files[int(i)] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]

    def read(i: int) -> np.ndarray:
        image = read_image_file(picks[i])  # strict: a truncated JPEG would otherwise calibrate on grey padding
        if image is None:
            raise DataError(f"{picks[i]}: not a readable image (calibration folder {root})")
        return image

    return read, n


def synthetic_frames(seed: int, width: int, height: int) -> FrameSource:
    """Frames from the synthetic scene generator (deterministic per seed and index)."""
    from ..data.synthetic import SyntheticScenes

    scenes = SyntheticScenes(seed, width, height)
    return lambda i: scenes[i][0]


@dataclass
class FrameSet:
    """Frames by index, how many, and where they come from (JSON-able, for records and metadata)."""

    frames: FrameSource
    count: int
    summary: dict[str, Any] = field(default_factory=dict)


def split_picks(available: int, count: int, check: int) -> tuple[list[int], list[int]]:
    """(calibration indices, held-out indices) out of `available` frames: disjoint, each spread evenly."""
    check = min(check, available // 4) if available >= 2 else 0
    held = set(np.linspace(0, available - 1, check + 2)[1:-1].round().astype(int).tolist()) if check else set()
    rest = [i for i in range(available) if i not in held]
    n = min(count, len(rest))
    calib = [rest[int(k)] for k in np.linspace(0, len(rest) - 1, n).round().astype(int)] if n else []
    return sorted(set(calib)), sorted(held)


def calibration_sets(source: str, spec: ModelSpec, count: int, check: int,
                     seed: int = 0) -> tuple[FrameSet, FrameSet]:
    """(calibration frames, held-out check frames) from SRC: a folder of images, a video file or synthetic:N.

    The check frames are never calibration frames: other files or video frames, or other synthetic scenes
    (seed + 1). A source too small to spare any gets synthetic check frames, and the summary says so.
    """
    if count < 1:
        raise InputError(f"calibration: expected at least 1 frame, got {count}")
    text = str(source).strip()
    w, h = spec.input.width, spec.input.height
    if text.startswith("synthetic"):
        n = _synthetic_count(text, count)
        calib = FrameSet(synthetic_frames(seed, w, h), n, {"source": "synthetic", "seed": seed, "count": n})
        held = FrameSet(synthetic_frames(seed + 1, w, h), check, {"source": "synthetic", "seed": seed + 1,
                                                                   "count": check})
        return calib, held
    if not text:
        raise InputError("--calib: empty; give a folder of images, a video file or synthetic:N")
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) for INT8 calibration")
        picks, held = split_picks(len(files), count, check)
        calib = FrameSet(_file_reader([files[i] for i in picks], path), len(picks),
                         {"source": "folder", "folder": str(path), "count": len(picks), "available": len(files)})
        if held:
            return calib, FrameSet(_file_reader([files[i] for i in held], path), len(held),
                                   {"source": "folder", "folder": str(path), "count": len(held), "held_out": True})
        return calib, _synthetic_check(seed, w, h, check, f"{path} has too few images to hold any out")
    if path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise DataError(f"{path}: not a folder of images or a video ({', '.join(VIDEO_SUFFIXES)}) to calibrate on")
        calib_frames, held_frames, total = video_frames(path, count, check, max(w, h))
        calib = FrameSet(calib_frames.__getitem__, len(calib_frames),
                         {"source": "video", "video": str(path), "count": len(calib_frames), "available": total})
        if held_frames:
            return calib, FrameSet(held_frames.__getitem__, len(held_frames),
                                   {"source": "video", "video": str(path), "count": len(held_frames), "held_out": True})
        return calib, _synthetic_check(seed, w, h, check, f"{path} has too few frames to hold any out")
    raise DataError(f"{path}: no such folder or video to calibrate on (or give synthetic:N)")


def _synthetic_count(text: str, default: int) -> int:
    """N of 'synthetic:N' ('synthetic' alone: the default count)."""
    if text == "synthetic":
        return default
    _, _, n = text.partition(":")
    if not n.strip().isdigit() or int(n) < 1:
        raise InputError(f"--calib: {text!r}; expected synthetic:N with N a positive number of scenes")
    return int(n)


def _synthetic_check(seed: int, width: int, height: int, count: int, why: str) -> FrameSet:
    return FrameSet(synthetic_frames(seed + 1, width, height), count,
                    {"source": "synthetic", "seed": seed + 1, "count": count, "note": why})


def _file_reader(files: list[Path], root: Path) -> FrameSource:
    def read(i: int) -> np.ndarray:
        image = read_image_file(files[i])  # strict: a truncated JPEG would otherwise calibrate on grey padding
        if image is None:
            raise DataError(f"{files[i]}: not a readable image (calibration folder {root})")
        return image
    return read


def video_frames(path: Path, count: int, check: int, side: int) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """(calibration frames, held-out frames, frames in the video), read in one pass, each shrunk to fit `side`."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        if total < 1:
            raise DataError(f"{path}: not a readable video (OpenCV opens no frames from it) for INT8 calibration")
        picks, held = split_picks(total, count, check)
        wanted = {i: "calib" for i in picks} | {i: "held" for i in held}
        calib: list[np.ndarray] = []
        kept: list[np.ndarray] = []
        last = max(wanted)
        for i in range(last + 1):
            if not cap.grab():
                break
            if i in wanted:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    raise DataError(f"{path}: frame {i} does not decode (calibration video)")
                (calib if wanted[i] == "calib" else kept).append(_fit(frame, side, cv2))
    finally:
        cap.release()
    if not calib:
        raise DataError(f"{path}: no decodable frame for INT8 calibration")
    return calib, kept, total


def _fit(frame: np.ndarray, side: int, cv2: Any) -> np.ndarray:
    """The frame shrunk (INTER_AREA) so that its longer side is at most `side` (kept frames stay small)."""
    scale = side / max(frame.shape[:2])
    if scale >= 1:
        return frame
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def make_calibrator(trt: TrtModule, feed: CalibrationFeed, cache_path: Path | None,
                    on_batch: Callable[[int, int], None] | None = None) -> Any:
    """An IInt8EntropyCalibrator2 over the feed, reading/writing the calibration cache when given."""
    from . import compat, cuda_runtime

    base = compat.calibrator_base(trt)
    rt = cuda_runtime.cudart()

    class EntropyCalibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)  # type: ignore[misc]  # TensorRT's binding: a base made at run time
            self.device = cuda_runtime.DeviceBuffer(feed.nbytes)
            self.served = 0

        def get_batch_size(self) -> int:
            return feed.batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = feed.next_batch()
            if batch is None:
                return None
            cuda_runtime.check(rt.cudaMemcpy(self.device.ptr, batch.ctypes.data, batch.nbytes,
                                             rt.cudaMemcpyKind.cudaMemcpyHostToDevice), "cudaMemcpy(calibration)")
            self.served += 1
            if on_batch is not None:
                on_batch(self.served, len(feed))
            return [self.device.ptr]

        def read_calibration_cache(self) -> bytes | None:
            if cache_path is not None and cache_path.is_file():
                return cache_path.read_bytes()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_path is not None:
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(cache_path, bytes(cache))

    return EntropyCalibrator()
