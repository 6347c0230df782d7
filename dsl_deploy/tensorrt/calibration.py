"""INT8 calibration: frames (a folder of images or synthetic scenes) -> preprocessed batches -> TensorRT."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..data.image_file import read_image_file
from ..errors import DataError, InputError
from ..preprocess import Preprocessor
from ..spec import ModelSpec

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

FrameSource = Callable[[int], np.ndarray]


class CalibrationFeed:
    """Serves `count // batch` full batches of preprocessed frames, in a fixed order (no CUDA needed)."""

    def __init__(self, frames: FrameSource, count: int, batch: int, spec: ModelSpec):
        if batch < 1:
            raise InputError(f"calibration batch: expected at least 1, got {batch}")
        if count < batch:
            raise InputError(f"calibration: {count} frame(s) is less than one batch of {batch}; "
                             "give more images or a smaller calibration batch")
        self.frames = frames
        self.batch = int(batch)
        self.num_batches = int(count) // self.batch
        self.dropped = int(count) - self.num_batches * self.batch  # a partial batch would bias the histograms
        self.preprocessor = Preprocessor(spec)
        self.shape = (self.batch, 3, spec.input.height, spec.input.width)
        self._next = 0

    def __len__(self) -> int:
        return self.num_batches

    @property
    def nbytes(self) -> int:
        """Bytes of one batch."""
        return int(np.prod(self.shape)) * 4

    def reset(self) -> None:
        """Start again from the first batch."""
        self._next = 0

    def next_batch(self) -> np.ndarray | None:
        """The next float32 [batch, 3, H, W] batch (a fresh contiguous array), or None when done."""
        if self._next >= self.num_batches:
            return None
        start = self._next * self.batch
        frames = [self.frames(start + k) for k in range(self.batch)]
        self._next += 1
        batch, _ = self.preprocessor(frames)
        return np.ascontiguousarray(batch, dtype=np.float32).copy()

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


def make_calibrator(trt: Any, feed: CalibrationFeed, cache_path: Path | None,
                    on_batch: Callable[[int, int], None] | None = None) -> Any:
    """An IInt8EntropyCalibrator2 over the feed, reading/writing the calibration cache when given."""
    from . import compat, cuda

    base = compat.calibrator_base(trt)
    rt = cuda.cudart()

    class EntropyCalibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.device = cuda.DeviceBuffer(feed.nbytes)
            self.served = 0

        def get_batch_size(self) -> int:
            return feed.batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = feed.next_batch()
            if batch is None:
                return None
            cuda.check(rt.cudaMemcpy(self.device.ptr, batch.ctypes.data, batch.nbytes,
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
                cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()
