"""The worker side of a Stream: reader, preprocess and inference threads joined by bounded queues.

    reader thread   --frames-->   preprocess thread   --batches-->   inference thread   --fields-->   caller
    (source.frames)  StageQueue    (step.preprocess,    StageQueue    (step.infer)        StageQueue   (step.finish:
                     drop-oldest    a Preprocessor pool)                                              decode, map)
                     when live

Every stage runs a part of one `FrameStep`. On the step's device path (fields kept on the GPU) the inference
thread decodes too, before the backend's next call reuses its device buffers; the caller then only maps.

Each stage is one thread and every queue is FIFO, so results come out in source order. The threads
hold this object, never the Stream, so a Stream that its caller abandons is garbage-collected and its
finaliser stops them.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..errors import InputError
from .frame_step import FrameStep
from .queues import CLOSED, StageQueue
from .sources import Source
from .stats import StreamStats

log = logging.getLogger("dsl_deploy.runtime")

# Batches and fields in flight between the inner stages: two keep every stage busy on files; one keeps a
# live source's capture-to-result latency short (the drop-oldest capture queue absorbs the rest).
STAGE_QUEUE = 2
LIVE_STAGE_QUEUE = 1


class Stages:
    """Threads and queues of one stream; `fields` is the queue the caller reads."""

    def __init__(self, step: FrameStep, source: Source, *, queue: int, max_frames: int | None,
                 stop: threading.Event, on_corrupt: Callable[[str], None] | None):
        self.step, self.source, self.max_frames = step, source, max_frames
        self.stop, self.on_corrupt = stop, on_corrupt
        self.stats = StreamStats()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        depth = LIVE_STAGE_QUEUE if source.live else STAGE_QUEUE
        self.frames = StageQueue(queue, drop_oldest=source.live)
        self.batches = StageQueue(depth)
        self.fields = StageQueue(depth)
        # Preprocessed batches live in a pool of buffers that return once inference has used them, so the
        # hot path allocates no input buffer (one being filled, `depth` queued, one in inference).
        self.pool = StageQueue(depth + 2)
        for _ in range(depth + 2):
            self.pool.put(step.preprocessor())
        self.threads = [threading.Thread(target=self._guard, args=(fn,), name=f"dsl-{name}", daemon=True)
                        for name, fn in (("read", self._read), ("preprocess", self._preprocess),
                                         ("infer", self._infer))]

    def start(self) -> None:
        """Start the three threads."""
        self.stats.started = time.perf_counter()
        for t in self.threads:
            t.start()

    def abort(self) -> None:
        """Close every queue: each thread returns at its next hand-off."""
        for q in (self.frames, self.pool, self.batches, self.fields):
            q.close()

    def join(self, timeout: float = 5.0, reader_timeout: float | None = None) -> None:
        """Wait for the threads (each at most `timeout` s; the reader at most `reader_timeout` when given: after
        a stop it may be blocked inside its source, e.g. a fifo, and it never touches the backend)."""
        me = threading.current_thread()
        for n, t in enumerate(self.threads):
            if t is not me and t.is_alive():
                t.join(timeout=reader_timeout if n == 0 and reader_timeout is not None else timeout)

    def corrupt(self, message: str) -> None:
        """Count and report a skipped frame (called from any thread)."""
        with self._lock:
            self.stats.corrupt += 1
        log.warning("skipped corrupt frame: %s", message)
        if self.on_corrupt is not None:
            self.on_corrupt(message)

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread and re-raised there
            with self._lock:
                if self.error is None:
                    self.error = exc
            self.stop.set()
            self.abort()

    def _read(self) -> None:
        try:
            for frame in self.source.frames(self.stop):
                if frame.corrupt:
                    self.corrupt(frame.error or f"{frame.source}: frame {frame.index}")
                    continue
                if self.max_frames is not None and self.stats.read >= self.max_frames:
                    break
                self.stats.read += 1
                if not self.frames.put(frame):
                    break
                if self.max_frames is not None and self.stats.read >= self.max_frames:
                    break
        finally:
            self.stats.reconnects = self.source.reconnects
            self.frames.close()

    def _preprocess(self) -> None:
        try:
            while True:
                frame = self.frames.get()
                if frame is CLOSED:
                    return
                prep = self.pool.get()
                if prep is CLOSED:
                    return
                try:
                    batch, boxes, ms = self.step.preprocess(frame.image, prep)
                except InputError as exc:
                    self.pool.put(prep)
                    self.corrupt(f"{frame.source}: frame {frame.index}: {exc}")
                    continue
                if not self.batches.put((frame, prep, batch, boxes[0], ms)):
                    return
        finally:
            self.batches.close()

    def _infer(self) -> None:
        try:
            while True:
                item = self.batches.get()
                if item is CLOSED:
                    return
                frame, prep, batch, lb, pre_ms = item
                inferred = self.step.infer(batch, keep=True)  # kept while the next frame runs
                self.pool.put(prep)  # the input buffer is free again
                if not self.fields.put((frame, lb, inferred, {"preprocess": pre_ms})):
                    return
        finally:
            self.fields.close()
