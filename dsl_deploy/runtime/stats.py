"""Counters and timings of a stream: frames, drops, corrupt frames, per-stage ms, latency and throughput."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Latency percentiles come from the most recent frames only, so a run of days keeps constant memory.
LATENCY_WINDOW = 4096
# What each pipeline thread spends per frame, in the stage timings: a stream cannot beat its slowest one.
THREAD_STAGES = {"preprocess": ("preprocess",), "inference": ("inference",), "decode+map": ("decode", "map")}


@dataclass
class StreamStats:
    """What happened in one stream; each counter is written by one pipeline thread only."""

    frames: int = 0  # results emitted
    read: int = 0  # frames read from the source (good ones)
    dropped: int = 0  # frames discarded by the drop-oldest queue (live sources)
    corrupt: int = 0  # frames that could not be read, preprocessed or decoded
    reconnects: int = 0  # live-source reopenings
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    _stage_sums: dict[str, float] = field(default_factory=dict)
    _latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def add(self, timings: dict[str, float]) -> None:
        """Account one emitted frame's stage timings (ms), including its end-to-end 'latency'."""
        self.frames += 1
        for k, v in timings.items():
            self._stage_sums[k] = self._stage_sums.get(k, 0.0) + float(v)
        if "latency" in timings:
            self._latencies.append(float(timings["latency"]))

    @property
    def elapsed(self) -> float:
        """Wall seconds from the start to the end (or now)."""
        return (self.ended if self.ended is not None else time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        """Throughput: emitted frames per wall second."""
        e = self.elapsed
        return self.frames / e if e > 0 else 0.0

    def stage_means(self) -> dict[str, float]:
        """Mean ms per stage over the emitted frames."""
        n = max(self.frames, 1)
        return {k: v / n for k, v in self._stage_sums.items()}

    def slowest_stage(self) -> tuple[str, float] | None:
        """(name, mean ms) of the pipeline thread with the most work per frame, or None before any frame."""
        means = self.stage_means()
        per_thread = {name: sum(means.get(k, 0.0) for k in keys) for name, keys in THREAD_STAGES.items()
                      if any(k in means for k in keys)}
        if not per_thread:
            return None
        name = max(per_thread, key=per_thread.__getitem__)
        return name, per_thread[name]

    def bound_fps(self) -> float | None:
        """The throughput the slowest stage allows (frames/s) if every stage had a core of its own."""
        slowest = self.slowest_stage()
        return 1e3 / slowest[1] if slowest and slowest[1] > 0 else None

    def latency_percentiles(self) -> dict[str, float]:
        """p50/p95/max end-to-end latency (ms, capture to result) over the recent frames."""
        if not self._latencies:
            return {}
        a = np.fromiter(self._latencies, np.float64)
        return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        slowest, bound = self.slowest_stage(), self.bound_fps()
        return {
            "frames": self.frames, "read": self.read, "dropped": self.dropped, "corrupt": self.corrupt,
            "reconnects": self.reconnects, "seconds": round(self.elapsed, 3), "fps": round(self.fps, 2),
            "stage_ms": {k: round(v, 3) for k, v in self.stage_means().items()},
            "latency_ms": {k: round(v, 3) for k, v in self.latency_percentiles().items()},
            "slowest_stage": slowest[0] if slowest else None,
            "bound_fps": round(bound, 2) if bound else None,
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        d = self.to_dict()
        main = ("preprocess", "inference", "decode", "total", "latency")
        stages = ", ".join(f"{k} {d['stage_ms'][k]:.2f}" for k in main if k in d["stage_ms"])
        lat = d["latency_ms"]
        lines = [
            f"frames {d['frames']}, dropped {d['dropped']}, corrupt {d['corrupt']}, reconnects {d['reconnects']}, "
            f"{d['seconds']:.2f} s, throughput {d['fps']:.2f} fps",
            f"mean ms per frame: {stages}" if stages else "mean ms per frame: -",
        ]
        if d["bound_fps"]:
            lines.append(f"slowest stage {d['slowest_stage']}: at most {d['bound_fps']:.2f} fps; "
                         f"{100 * d['fps'] / d['bound_fps']:.0f}% of it reached")
        if lat:
            lines.append(f"latency ms (capture to result): p50 {lat['p50']:.2f}, p95 {lat['p95']:.2f}, "
                         f"max {lat['max']:.2f}")
        return "\n".join(lines)
