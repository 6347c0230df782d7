"""The order in which bench_host runs the two paths: turns by blocks (as a capture box runs one path) or frames."""
from __future__ import annotations

import pytest

from dsl_deploy.bench.host import frame_order


def test_blocks_keep_each_paths_frames_together() -> None:
    order = frame_order(["today", "fast"], 10, 4)
    assert order[:8] == [(0, "today"), (1, "today"), (2, "today"), (3, "today"),
                         (0, "fast"), (1, "fast"), (2, "fast"), (3, "fast")]
    assert order[-4:] == [(8, "today"), (9, "today"), (8, "fast"), (9, "fast")]  # a short last block
    for path in ("today", "fast"):
        assert [i for i, p in order if p == path] == list(range(10))


def test_frame_interleave_alternates_every_frame() -> None:
    assert frame_order(["a", "b"], 3, 8, "frame") == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]


def test_unknown_interleave_is_refused() -> None:
    with pytest.raises(ValueError, match="interleave"):
        frame_order(["a"], 3, 8, "random")
