"""Pipelined streaming: capture, preprocess, inference and decode run concurrently, frame order preserved.

    reader thread   --frames-->   preprocess thread   --batches-->   inference thread   --fields-->   caller
    (source.frames)  StageQueue    (Preprocessor pool)  StageQueue    (backend.infer)     StageQueue   (decode, map,
                     drop-oldest                                                                       yield)
                     when live

Each stage is one thread and every queue is FIFO, so results come out in source order. onnxruntime,
TensorRT, OpenCV and the native decoder release the GIL, so throughput approaches the slowest stage.
The preprocessed batches live in a small pool of Preprocessor buffers that go back to the pool once
inference has consumed them: the hot path allocates no input buffers.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from ..errors import DslError, InputError
from ..preprocess import Preprocessor, check_frame
from .queues import CLOSED, StageQueue
from .sources import Frame, Source
from .stats import StreamStats

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger("dsl_deploy.runtime")

STAGE_QUEUE = 2  # batches and fields in flight between the inner stages
DRAIN_GRACE_S = 30.0  # after stop(), how long the caller waits for in-flight frames before abandoning them


class Stream:
    """An iterator of FrameResult (or (Frame, FrameResult) with `with_frames`) over a Source.

    `stop()` ends it cleanly: the source stops being read, frames already in flight are still emitted.
    `close()` aborts at once. `stats` holds counts (frames, dropped, corrupt, reconnects), the mean ms
    per stage, latency percentiles and throughput.
    """

    def __init__(self, pipeline: "Pipeline", source: Source, *, queue: int = 4, max_frames: int | None = None,
                 with_frames: bool = False, stop: threading.Event | None = None,
                 on_corrupt: Callable[[str], None] | None = None):
        if queue < 1:
            raise InputError(f"queue: expected at least 1, got {queue}")
        if max_frames is not None and max_frames < 0:
            raise InputError(f"max_frames: expected a non-negative count, got {max_frames}")
        self.pipeline = pipeline
        self.source = source
        self.max_frames = max_frames
        self.with_frames = with_frames
        self.stats = StreamStats()
        self._stop = stop if stop is not None else threading.Event()
        self._on_corrupt = on_corrupt
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._done = False
        self._frames_q = StageQueue(queue, drop_oldest=source.live)
        self._batches_q = StageQueue(STAGE_QUEUE)
        self._fields_q = StageQueue(STAGE_QUEUE)
        self._pool = StageQueue(STAGE_QUEUE + 2)
        for _ in range(STAGE_QUEUE + 2):
            self._pool.put(Preprocessor(pipeline.spec))
        self._copy_outputs = pipeline.backend_reuses_outputs
        self._threads = [
            threading.Thread(target=self._guard, args=(self._read,), name="dsl-read", daemon=True),
            threading.Thread(target=self._guard, args=(self._preprocess,), name="dsl-preprocess", daemon=True),
            threading.Thread(target=self._guard, args=(self._infer,), name="dsl-infer", daemon=True),
        ]
        self._started = False

    def _start(self) -> None:
        # Threads start on the first next(), so a stream that is never iterated holds no thread.
        self._started = True
        self.stats.started = time.perf_counter()
        for t in self._threads:
            t.start()

    # ---- worker threads -----------------------------------------------------
    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread and re-raised there
            with self._lock:
                if self._error is None:
                    self._error = exc
            self._stop.set()
            self._abort_queues()

    def _corrupt(self, message: str) -> None:
        with self._lock:
            self.stats.corrupt += 1
        log.warning("skipped corrupt frame: %s", message)
        if self._on_corrupt is not None:
            self._on_corrupt(message)

    def _read(self) -> None:
        try:
            for frame in self.source.frames(self._stop):
                if frame.corrupt:
                    self._corrupt(frame.error or f"{frame.source}: frame {frame.index}")
                    continue
                if self.max_frames is not None and self.stats.read >= self.max_frames:
                    break
                self.stats.read += 1
                if not self._frames_q.put(frame):
                    break
                if self.max_frames is not None and self.stats.read >= self.max_frames:
                    break
        finally:
            self.stats.reconnects = self.source.reconnects
            self._frames_q.close()

    def _preprocess(self) -> None:
        try:
            while True:
                frame = self._frames_q.get()
                if frame is CLOSED:
                    return
                prep = self._pool.get()
                if prep is CLOSED:
                    return
                t0 = time.perf_counter()
                try:
                    batch, boxes = prep(check_frame(frame.image))
                except InputError as exc:
                    self._pool.put(prep)
                    self._corrupt(f"{frame.source}: frame {frame.index}: {exc}")
                    continue
                ms = (time.perf_counter() - t0) * 1e3
                if not self._batches_q.put((frame, prep, batch, boxes[0], ms)):
                    return
        finally:
            self._batches_q.close()

    def _infer(self) -> None:
        backend = self.pipeline.backend
        try:
            while True:
                item = self._batches_q.get()
                if item is CLOSED:
                    return
                frame, prep, batch, lb, pre_ms = item
                t0 = time.perf_counter()
                fields = backend.infer(batch)
                if self._copy_outputs:
                    fields = {k: np.array(v, copy=True) for k, v in fields.items()}
                inf_ms = (time.perf_counter() - t0) * 1e3
                self._pool.put(prep)  # the input buffer is free again
                if not self._fields_q.put((frame, lb, fields, {"preprocess": pre_ms, "inference": inf_ms})):
                    return
        finally:
            self._fields_q.close()

    # ---- caller side ----------------------------------------------------------
    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Any:
        if not self._started and not self._done:
            self._start()
        while True:
            item = self._next_item()
            frame, lb, fields, timings = item
            try:
                result = self.pipeline._finish(fields, lb, timings)
            except DslError as exc:
                self._corrupt(f"{frame.source}: frame {frame.index}: decode failed: {exc}")
                continue
            result.frame_index = frame.index
            result.timestamp = frame.timestamp
            result.timings["latency"] = (time.perf_counter() - frame.captured) * 1e3
            self.stats.dropped = self._frames_q.dropped
            self.stats.add(result.timings)
            return (frame, result) if self.with_frames else result

    def _next_item(self) -> tuple[Frame, Any, dict[str, np.ndarray], dict[str, float]]:
        waited_after_stop = 0.0
        while True:
            if self._done:
                raise StopIteration
            try:
                item = self._fields_q.get(timeout=0.25)
            except TimeoutError:
                if self._stop.is_set():
                    waited_after_stop += 0.25
                    if waited_after_stop >= DRAIN_GRACE_S:
                        log.warning("stream: in-flight frames did not finish within %.0f s; abandoning them",
                                    DRAIN_GRACE_S)
                        self._finish_stream()
                continue
            if item is CLOSED:
                self._finish_stream()
                continue
            return item

    def _finish_stream(self) -> None:
        self._done = True
        self._abort_queues()
        self._join()
        self.stats.dropped = self._frames_q.dropped
        self.stats.reconnects = self.source.reconnects
        if self.stats.ended is None:
            self.stats.ended = time.perf_counter()
        err, self._error = self._error, None
        if err is not None:
            raise err

    def _abort_queues(self) -> None:
        for q in (self._frames_q, self._pool, self._batches_q, self._fields_q):
            q.close()

    def _join(self) -> None:
        me = threading.current_thread()
        for t in self._threads:
            if t is not me and t.is_alive():
                t.join(timeout=5.0)

    def stop(self) -> None:
        """Stop reading the source; frames already read are still emitted, then iteration ends."""
        self._stop.set()

    def close(self) -> None:
        """Abort now: stop every thread, drop frames in flight, release the source."""
        self._stop.set()
        self._abort_queues()
        for q in (self._frames_q, self._batches_q, self._fields_q):
            q.clear()
        if not self._done:
            self._done = True
            self._join()
            if self.stats.ended is None:
                self.stats.ended = time.perf_counter()
        if not any(t.is_alive() for t in self._threads[:1]):
            self.source.close()  # never release a capture another thread is still reading

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._stop.set()
            self._abort_queues()
        except Exception:
            pass


def iterate(stream: Stream) -> Iterator[Any]:
    """Iterate a stream and close it whatever happens."""
    with stream:
        yield from stream
