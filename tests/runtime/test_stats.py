"""StreamStats: counters, per-stage means, latency percentiles, summary text."""
from __future__ import annotations

import json

from dsl_deploy.runtime.stats import LATENCY_WINDOW, StreamStats


def test_means_percentiles_and_summary():
    s = StreamStats()
    for i in range(10):
        s.add({"preprocess": 1.0, "inference": 2.0 + i, "decode": 0.5, "total": 3.5 + i, "latency": 10.0 * (i + 1)})
    s.dropped, s.corrupt = 3, 1
    s.ended = s.started + 2.0
    means = s.stage_means()
    assert means["inference"] == 6.5 and means["preprocess"] == 1.0
    lat = s.latency_percentiles()
    assert lat["p50"] == 55.0 and lat["max"] == 100.0
    assert s.fps == 5.0
    d = json.loads(json.dumps(s.to_dict()))
    assert d["frames"] == 10 and d["dropped"] == 3 and d["corrupt"] == 1
    text = s.summary()
    assert "frames 10, dropped 3, corrupt 1" in text and "throughput 5.00 fps" in text and "p95" in text


def test_latency_memory_is_bounded():
    s = StreamStats()
    for i in range(LATENCY_WINDOW + 100):
        s.add({"latency": float(i)})
    assert len(s._latencies) == LATENCY_WINDOW
    assert s.latency_percentiles()["max"] == LATENCY_WINDOW + 99
    assert s.frames == LATENCY_WINDOW + 100


def test_slowest_stage_bounds_the_throughput():
    s = StreamStats()
    assert s.slowest_stage() is None and s.bound_fps() is None and s.to_dict()["bound_fps"] is None
    for _ in range(4):
        # decode and map run in one thread (the caller's): together they are the slowest stage here.
        s.add({"preprocess": 3.0, "inference": 8.0, "decode": 6.0, "map": 4.0, "decode.fuse": 5.0, "total": 21.0})
    s.ended = s.started + 0.1  # 40 fps reached
    assert s.slowest_stage() == ("decode+map", 10.0) and s.bound_fps() == 100.0
    d = s.to_dict()
    assert d["slowest_stage"] == "decode+map" and d["bound_fps"] == 100.0
    assert "slowest stage decode+map: at most 100.00 fps; 40% of it reached" in s.summary()
