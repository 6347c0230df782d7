"""Summary statistics of timing samples, in the words of trtexec (min/median/mean/std/p90/p99)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """min, median, mean, std, p90, p99, max and count of a list of durations in ms."""
    a = np.asarray(list(samples_ms), dtype=np.float64)
    if a.size == 0:
        nan = math.nan
        return {"min": nan, "median": nan, "mean": nan, "std": nan, "p90": nan, "p99": nan, "max": nan, "n": 0}
    return {
        "min": float(a.min()),
        "median": float(np.median(a)),
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "n": int(a.size),
    }


def ratio(peer_ms: float, ours_ms: float) -> float | None:
    """How many times faster ours is than the peer (peer / ours); None when either is unusable."""
    if not (math.isfinite(peer_ms) and math.isfinite(ours_ms)) or ours_ms <= 0:
        return None
    return peer_ms / ours_ms
