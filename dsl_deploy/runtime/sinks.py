"""Outputs of a stream: JSON lines, a COCO-format results file, rendered images or video.

Every sink survives an interrupted run: JSON lines are written whole and flushed one by one, the COCO
file and a rendered video are written atomically (temporary file + rename) on close. A sink closed by an
exception (`abort`) creates nothing more: no empty JSON-lines file, no COCO file, no video. Files are
written through `outputs` (never truncated in place: see `OutputPlan`), which callers check first.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import cv2

from .. import jsonline
from ..errors import InputError
from ..metrics.coco_format import coco_record
from ..result import FrameResult
from .outputs import LineFile, check_writable, publish, temporary_beside, write_atomic
from .render import draw_result
from .sources import Frame

VIDEO_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v"}


class SinkClosed(Exception):
    """The reader of an output went away (e.g. a closed pipe on stdout)."""


class Sink:
    """One output of a stream."""

    def write(self, frame: Frame, result: FrameResult) -> None:
        """Emit one frame's result."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release; safe to call twice."""

    def abort(self) -> None:
        """The run failed: release without writing anything more (no whole-file output, no empty file)."""
        self.close()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def frame_record(frame: Frame, result: FrameResult, *, masks: bool = True) -> dict[str, Any]:
    """The JSON-lines record of one frame: frame index, source, timestamp, then the FrameResult fields."""
    body = result.to_dict(masks=masks)
    record: dict[str, Any] = {"frame": frame.index, "source": frame.source, "timestamp": frame.timestamp}
    record.update((k, v) for k, v in body.items() if k not in ("frame", "timestamp"))
    return record


def json_line(frame: Frame, result: FrameResult, *, masks: bool = True) -> bytes:
    """The JSON line of one frame (frame_record, compact, newline-terminated), as JsonLinesSink writes it."""
    return jsonline.dumps(frame_record(frame, result, masks=masks)) + b"\n"


class JsonLinesSink(Sink):
    """One JSON object per line per frame, to a file or to stdout ('-'); each line written whole and flushed."""

    def __init__(self, target: str | Path, *, masks: bool = True):
        if not isinstance(masks, bool):
            raise InputError(f"masks: expected True (RLE masks) or False (none), got {masks!r}")
        self.masks = masks
        self.target = str(target)
        self._own = self.target != "-"
        if not self._own and sys.stdout is None:  # started with stdout closed (e.g. `>&-`)
            raise InputError("-: standard output is closed; give -o FILE (or -o none)")
        # A file appears with its first line (a run that cannot start leaves none) and never ends in half a line.
        self._file: LineFile | None = LineFile(check_writable(self.target)) if self._own else None
        self._out: IO[bytes] | None = None if self._own else sys.stdout.buffer
        self._closed = False

    def write(self, frame: Frame, result: FrameResult) -> None:
        if self._closed:
            raise SinkClosed(self.target)
        line = json_line(frame, result, masks=self.masks)
        try:
            if self._file is not None:
                self._file.write_line(line)
            else:
                assert self._out is not None
                self._out.write(line)
                self._out.flush()
        except BrokenPipeError:
            self._closed = True
            raise SinkClosed(self.target) from None
        except OSError as exc:  # e.g. a full disk: say which output, not an internal error
            self._finish(create=False)
            raise InputError(f"{self.target}: cannot write the JSON lines ({exc.strerror or exc}); the lines "
                             "before this frame are complete") from None

    def _finish(self, *, create: bool) -> None:
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            try:
                self._file.close(create=create)
            except OSError:
                pass
        elif self._out is not None:
            try:
                self._out.flush()
            except (BrokenPipeError, OSError):
                pass

    def close(self) -> None:
        self._finish(create=True)

    def abort(self) -> None:
        self._finish(create=False)


class CocoSink(Sink):
    """A COCO results list (bbox, keypoints, segmentation per player), written atomically on close.

    image_id is the frame index in the source (for a folder: the position in name order); `file_name`
    carries the image path. The records stay in memory until close: meant for finite sources.
    """

    def __init__(self, path: str | Path, *, masks: bool = True):
        self.path = check_writable(path)
        self.masks = masks
        self._records: list[dict[str, Any]] | None = []

    def abort(self) -> None:
        self._records = None  # a failed run writes no results file that would look complete

    def write(self, frame: Frame, result: FrameResult) -> None:
        if self._records is None:
            raise SinkClosed(str(self.path))
        self._records += coco_record(result, frame.index, file_name=frame.source, masks=self.masks)

    def close(self) -> None:
        records, self._records = self._records, None
        if records is None:
            return
        write_atomic(self.path, json.dumps(records, separators=(",", ":")).encode())


class RenderSink(Sink):
    """Overlays (masks, boxes, skeletons, ball) as one image per frame in a folder, or as a video file."""

    def __init__(self, target: str | Path, *, fps: float = 25.0, masks: bool = True):
        self.target = Path(target)
        self.masks = masks
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._closed = False
        self.is_video = self.target.suffix.lower() in VIDEO_SUFFIXES
        self._tmp: Path | None = None  # the video being written, renamed over the target on close
        if self.is_video:
            check_writable(self.target)
        elif self.target.exists() and not self.target.is_dir():
            raise InputError(f"{self.target}: exists and is not a folder; give a folder for images or a "
                             f"video file ending in {', '.join(sorted(VIDEO_SUFFIXES))}")

    def write(self, frame: Frame, result: FrameResult) -> None:
        if self._closed:
            raise SinkClosed(str(self.target))
        if frame.image is None:
            raise InputError(f"{self.target}: frame {frame.index} carries no image to render")
        image = draw_result(frame.image, result, masks=self.masks)
        if not self.is_video:
            self.target.mkdir(parents=True, exist_ok=True)  # at the first frame: a run that fails makes none
            ok, jpeg = cv2.imencode(".jpg", image)
            if not ok:
                raise InputError(f"{self.target}: could not encode the rendered frame {frame.index}")
            try:
                write_atomic(self.target / f"frame_{frame.index:06d}.jpg", jpeg.tobytes(), durable=False)
            except OSError as exc:
                raise InputError(f"{self.target}: could not write the rendered frame {frame.index} "
                                 f"({exc.strerror or exc})") from None
            return
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*VIDEO_SUFFIXES[self.target.suffix.lower()])
            self._tmp, _ = temporary_beside(self.target)
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise InputError(f"{self.target}: OpenCV cannot write this video (codec "
                                 f"{VIDEO_SUFFIXES[self.target.suffix.lower()]}); try a .avi file")
            self._size = (w, h)
        if (image.shape[1], image.shape[0]) != self._size:  # a folder of mixed sizes: fit the first one
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)

    def close(self) -> None:
        self._finish(keep=True)

    def abort(self) -> None:
        self._finish(keep=False)

    def _finish(self, *, keep: bool) -> None:
        self._closed = True
        writer, self._writer = self._writer, None
        tmp, self._tmp = self._tmp, None
        if writer is not None:
            writer.release()
        if tmp is not None:
            if keep and writer is not None and tmp.stat().st_size > 0:
                publish(tmp, self.target)
            else:
                tmp.unlink(missing_ok=True)
