"""Pipelined streaming: capture, preprocess, inference and decode run concurrently, frame order preserved.

A Stream runs one `FrameStep` over a Source: the reader, preprocess and inference stages in threads (see
`stages.py`); decoding, the mapping back to the frame and whatever the caller does with each result in the
caller's thread.
onnxruntime, TensorRT, OpenCV and the native decoder release the GIL, so throughput approaches the
slowest stage while each result still reports its own per-stage ms and capture-to-result latency.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ..errors import DslError, InputError
from ..preprocess import Letterbox
from .frame_step import FrameStep, Inferred
from .queues import CLOSED
from .sources import Frame, Source
from .stages import Stages
from .stats import StreamStats

log = logging.getLogger("dsl_deploy.runtime")

DRAIN_GRACE_S = 30.0  # after stop(), how long the caller waits for in-flight frames before abandoning them
POLL_S = 0.25  # how often a waiting caller checks for a stop request
STOPPED_JOIN_S = 0.2  # after a stop, how long the end waits for a reader blocked in its source


class Stream:
    """An iterator of FrameResult (or (Frame, FrameResult) with `with_frames`) of a FrameStep over a Source.

    Threads start at the first `next()`. `stop()` ends it cleanly: the source stops being read, frames
    already in flight are still emitted. `close()` aborts at once and releases the source; use the
    stream as a context manager (or iterate it to the end) so that happens. `stats` holds counts
    (frames, read, dropped, corrupt, reconnects), mean ms per stage, latency percentiles, throughput.
    """

    def __init__(self, step: FrameStep, source: Source, *, queue: int = 4, max_frames: int | None = None,
                 with_frames: bool = False, stop: threading.Event | None = None,
                 on_corrupt: Callable[[str], None] | None = None):
        if not isinstance(queue, int) or queue < 1:
            raise InputError(f"queue: expected an integer of at least 1, got {queue!r}")
        if max_frames is not None and max_frames < 0:
            raise InputError(f"max_frames: expected a non-negative count, got {max_frames}")
        self.step = step
        self.source = source
        self.with_frames = with_frames
        self._stop = stop if stop is not None else threading.Event()
        self._stages = Stages(step, source, queue=queue, max_frames=max_frames, stop=self._stop,
                              on_corrupt=on_corrupt)
        self._started = False
        self._done = False

    @property
    def stats(self) -> StreamStats:
        """Counters and timings so far (final once the stream has ended)."""
        return self._stages.stats

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Any:
        if not self._started and not self._done:
            self._started = True
            self._stages.start()
        while True:
            frame, lb, inferred, timings = self._next_item()
            try:
                result = self.step.finish(inferred, 0, lb, timings)
            except DslError as exc:
                self._stages.corrupt(f"{frame.source}: frame {frame.index}: decode failed: {exc}")
                continue
            result.frame_index = frame.index
            result.timestamp = frame.timestamp
            if frame.captured:  # a Source that does not stamp its frames gets no latency figure
                result.timings["latency"] = (time.perf_counter() - frame.captured) * 1e3
            stats = self.stats
            stats.dropped = self._stages.frames.dropped
            stats.add(result.timings)
            return (frame, result) if self.with_frames else result

    def _next_item(self) -> tuple[Frame, Letterbox, Inferred, dict[str, float]]:
        waited_after_stop = 0.0
        while True:
            if self._done:
                raise StopIteration
            try:
                item = self._stages.fields.get(timeout=POLL_S)
            except TimeoutError:
                if self._stop.is_set():
                    # The reader may be blocked inside the source (a fifo, a stalled stream) and never see the
                    # stop: close its queue, so the frames already read drain and the stream ends now.
                    self._stages.frames.close()
                    waited_after_stop += POLL_S
                    if waited_after_stop >= DRAIN_GRACE_S:
                        log.warning("stream: in-flight frames did not finish within %.0f s; abandoning them",
                                    DRAIN_GRACE_S)
                        self._end()
                continue
            if item is CLOSED:
                self._end()
                continue
            return item

    def _end(self) -> None:
        """The stages have finished (or failed): join them, finalise the stats, re-raise a worker's error."""
        self._done = True
        stages = self._stages
        stages.abort()
        # After a stop, a reader still blocked inside its source (a fifo) is not waited for: it is a daemon.
        stages.join(reader_timeout=STOPPED_JOIN_S if self._stop.is_set() else None)
        stages.stats.dropped = stages.frames.dropped
        stages.stats.reconnects = self.source.reconnects
        if stages.stats.ended is None:
            stages.stats.ended = time.perf_counter()
        self._release_source()
        err, stages.error = stages.error, None
        if err is not None:
            raise err

    def _release_source(self) -> None:
        if not self._stages.threads[0].is_alive():  # never release a capture another thread still reads
            self.source.close()

    def stop(self) -> None:
        """Stop reading the source; frames already read are still emitted, then iteration ends."""
        self._stop.set()

    def close(self) -> None:
        """Abort now: stop every thread, drop the frames in flight, release the source."""
        self._stop.set()
        stages = self._stages
        stages.abort()
        for q in (stages.frames, stages.batches, stages.fields):
            q.clear()
        if not self._done:
            self._done = True
            stages.join(reader_timeout=STOPPED_JOIN_S)
            if stages.stats.ended is None:
                stages.stats.ended = time.perf_counter()
        self._release_source()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned stream: let its threads return (they hold the stages, not this object).
        try:
            self._stop.set()
            self._stages.abort()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass
