"""Frame sources: an image, a folder of images, a video file, a camera or a network stream, or frames in memory.

Every source yields `Frame`s in order. A frame that cannot be read (an unreadable image file, a video
frame that fails to decode) is yielded with `image=None` and an `error`, so the caller can skip and
count it. A live source (camera, URL) that stops is reopened with a bounded exponential back-off.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np

from ..errors import InputError, printable
from ..limits import MAX_PIXELS, check_pixels, header_size

log = logging.getLogger("dsl_deploy.runtime")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
# A file video with a bad frame in the middle: how many failed reads in a row we skip before calling it the end.
MAX_SKIPPED_VIDEO_FRAMES = 3


@dataclass
class Frame:
    """One frame from a source: its index in the source, the BGR image (None when corrupt), its origin."""

    index: int
    image: np.ndarray | None
    source: str  # the file, stream or camera the frame came from
    timestamp: float  # video files: media time in s; images and live sources: wall-clock epoch time in s
    error: str | None = None  # why the frame could not be read
    captured: float = 0.0  # time.perf_counter() when it was read, for latency

    @property
    def corrupt(self) -> bool:
        """True when the frame could not be read."""
        return self.image is None


@dataclass(frozen=True)
class Reconnect:
    """Exponential back-off for a live source that stops: delay, delay*factor, ... capped at max_delay."""

    delay: float = 0.5  # seconds before the first reopen attempt
    factor: float = 2.0
    max_delay: float = 30.0  # the back-off never waits longer than this between attempts
    attempts: int | None = None  # reopen attempts per outage before giving up; None: keep trying

    def delays(self) -> Iterator[float]:
        """The waits before each attempt of one outage."""
        d, n = self.delay, 0
        while self.attempts is None or n < self.attempts:
            yield min(d, self.max_delay)
            d *= self.factor
            n += 1


class Source:
    """Base class: iterate `frames(stop)`; `live` sources may drop frames when the consumer is slow."""

    name: str = "source"
    live: bool = False
    fps: float | None = None  # frames per second when the source knows it
    total: int | None = None  # number of frames when known in advance (files)
    reconnects: int = 0  # successful reopenings of a live source

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Yield frames until the source ends or `stop` is set."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray | None:
    """Decode an image file to BGR uint8, or None when it is not a readable image.

    With `max_pixels`, an image whose header declares more pixels raises InputError before it is decoded.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
        if data.size == 0:
            return None
        size = header_size(data.data) if max_pixels is not None else None
        if size is not None and max_pixels is not None:
            check_pixels(size[0], size[1], max_pixels, printable(path))
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    except (OSError, cv2.error):
        return None


class ImageFiles(Source):
    """One image file, or every image of a folder in name order; images above `max_pixels` count as corrupt."""

    def __init__(self, paths: list[Path], name: str, *, max_pixels: int = MAX_PIXELS):
        self.paths = list(paths)
        self.name = name
        self.total = len(self.paths)
        self.max_pixels = max_pixels

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            if stop is not None and stop.is_set():
                return
            try:
                image = read_image(path, self.max_pixels)
                err = None if image is not None else f"{printable(path)}: not a readable image file"
            except InputError as exc:
                image, err = None, str(exc)
            yield Frame(i, image, str(path), time.time(), err, time.perf_counter())


def _check_capture_size(cap: Any, name: str, max_pixels: int) -> None:
    """Refuse a capture whose frames are above the pixel limit, before the first one is decoded."""
    w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    if w and h and w > 0 and h > 0:
        try:
            check_pixels(int(w), int(h), max_pixels, printable(name))
        except InputError:
            cap.release()
            raise


class VideoFile(Source):
    """A video file (or a URL read once, like a file) through OpenCV/FFmpeg; ends at the end of the file.

    A video without a single decodable frame is refused when opened, whatever its container says.
    """

    def __init__(self, path: Path | str, *, max_pixels: int = MAX_PIXELS):
        self.name = str(path)
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(f"{printable(path)}: OpenCV cannot open this file as a video (and it is not an image "
                             f"with a known suffix: {', '.join(sorted(IMAGE_SUFFIXES))})")
        _check_capture_size(self._cap, self.name, max_pixels)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.total = int(count) if count and 0 < count < 1 << 40 else None
        self._pending_ts: float | None = None
        self._leading_failures = 0
        self._first = self._read_first()

    def _read_first(self) -> tuple[np.ndarray, float] | None:
        """The first decodable frame (and its time), read now: a video with none is refused like an empty MP4."""
        for n in range(MAX_SKIPPED_VIDEO_FRAMES + 1):
            ok, image = self._cap.read()
            if ok and image is not None:
                self._leading_failures = n  # reported as corrupt frames before it
                return image, self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        self._cap.release()
        raise InputError(f"{printable(self.name)}: the video has no frame that can be decoded (0 frames, or none "
                         "readable)")

    def _read(self) -> tuple[bool, np.ndarray | None]:
        if self._first is not None:  # the frame read at open, at its place
            self._pending_ts = self._first[1]
            image, self._first = self._first[0], None
            return True, image
        self._pending_ts = None
        return self._cap.read()

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        index, failed = self._leading_failures, list(range(self._leading_failures))
        while not (stop is not None and stop.is_set()):
            ok, image = self._read()
            if not ok or image is None:
                # A failed read is either the end or a bad frame: only frames followed by good ones count as corrupt.
                beyond = self.total is not None and index >= self.total
                if beyond or len(failed) >= MAX_SKIPPED_VIDEO_FRAMES:
                    return
                failed.append(index)
                index += 1
                continue
            for bad in failed:
                yield Frame(bad, None, self.name, bad / (self.fps or 1.0), f"{self.name}: frame {bad} failed to decode")
            failed = []
            ts = self._pending_ts if self._pending_ts is not None else self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield Frame(index, image, self.name, ts, None, time.perf_counter())
            index += 1

    def close(self) -> None:
        self._cap.release()


Opener = Callable[[Any], Any]


def open_capture(target: int | str) -> Any:
    """cv2.VideoCapture for a camera index or a URL, with open/read timeouts so a dead stream cannot hang."""
    if isinstance(target, int):
        return cv2.VideoCapture(target)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)


class LiveSource(Source):
    """A camera index or a stream URL (RTSP/HTTP/...); reopened with back-off when it stops."""

    live = True

    def __init__(self, target: int | str, *, reconnect: Reconnect = Reconnect(), opener: Opener = open_capture,
                 name: str | None = None, max_pixels: int = MAX_PIXELS):
        self.target = target
        self.name = name or (f"camera:{target}" if isinstance(target, int) else str(target))
        self.reconnect = reconnect
        self._opener = opener
        self._cap = opener(target)
        if not self._cap.isOpened():
            self._cap.release()
            what = f"camera {target}" if isinstance(target, int) else f"stream {target}"
            raise InputError(f"{printable(self.name)}: cannot open {printable(what)} (check the device index or URL, "
                             "and that OpenCV was built with FFmpeg/V4L support)")
        _check_capture_size(self._cap, self.name, max_pixels)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None

    def _reopen(self, stop: threading.Event | None) -> bool:
        """Reopen after an outage; True when the source is back."""
        self._cap.release()
        for n, delay in enumerate(self.reconnect.delays(), 1):
            log.warning("%s: the stream stopped; reopening in %.3g s (attempt %d)", self.name, delay, n)
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                time.sleep(delay)
            self._cap = self._opener(self.target)
            if self._cap.isOpened():
                self.reconnects += 1
                log.warning("%s: reopened", self.name)
                return True
            self._cap.release()
        log.warning("%s: gave up after %s reopen attempts", self.name, self.reconnect.attempts)
        return False

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        index = 0
        while not (stop is not None and stop.is_set()):
            ok, image = self._cap.read()
            if not ok or image is None:
                if not self._reopen(stop):
                    return
                continue
            yield Frame(index, image, self.name, time.time(), None, time.perf_counter())
            index += 1

    def close(self) -> None:
        self._cap.release()


class ArraySource(Source):
    """Frames already in memory (any iterable of BGR uint8 arrays), for embedding the runtime."""

    def __init__(self, frames: Iterable[np.ndarray], name: str = "<arrays>", live: bool = False):
        self._frames = frames
        self.name = name
        self.live = live
        try:
            self.total = len(frames)  # type: ignore[arg-type]
        except TypeError:
            self.total = None

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        for i, image in enumerate(self._frames):
            if stop is not None and stop.is_set():
                return
            err = None if image is not None else f"{self.name}: frame {i} is None, not an image"
            yield Frame(i, image, self.name, time.time(), err, time.perf_counter())


def _is_url(text: str) -> bool:
    return "://" in text


def open_source(spec: "str | int | Path | Source | Iterable[np.ndarray]", *, live: bool | None = None,
                reconnect: Reconnect = Reconnect(), max_pixels: int = MAX_PIXELS) -> Source:
    """Open an image, a folder of images, a video file, a camera index ('0') or a URL as a Source.

    `live` forces the live behaviour (drop-oldest queue, reopen on stop) on or off; by default cameras
    and URLs are live and files are not. Frames above `max_pixels` pixels are refused (dsl_deploy.limits).
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise InputError(f"max_pixels: expected a positive number of pixels, got {max_pixels!r}")
    px: dict[str, Any] = {"max_pixels": max_pixels}
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, str) and not spec.strip():  # Path("") is the current folder: never what was meant
        raise InputError("source: empty name (an unset variable?); expected an image, a folder of images, a video "
                         "file, a camera index such as 0, or an rtsp:// / http:// URL")
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit() and not Path(spec).exists()):
        return LiveSource(int(spec), reconnect=reconnect, **px)
    if isinstance(spec, str) and _is_url(spec):
        if live is False:
            return VideoFile(spec, **px)
        return LiveSource(spec, reconnect=reconnect, **px)
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if not path.exists():
            raise InputError(f"{spec}: no such file or directory (expected an image, a folder of images, a video "
                             "file, a camera index such as 0, or an rtsp:// / http:// URL)")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InputError(f"{path}: the folder has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            return ImageFiles(files, str(path), **px)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFiles([path], str(path), **px)
        if live:
            return LiveSource(str(path), reconnect=reconnect, opener=cv2.VideoCapture, **px)
        return VideoFile(path, **px)
    if isinstance(spec, np.ndarray):
        raise InputError("source: got one numpy array; pass a list of frames, or call the pipeline on the frame")
    try:
        iter(spec)  # type: ignore[call-overload]
    except TypeError:
        raise InputError(f"source: cannot read frames from a {type(spec).__name__}; expected a path, a camera "
                         "index, a URL or an iterable of BGR uint8 arrays") from None
    return ArraySource(spec, live=bool(live))  # type: ignore[arg-type]
