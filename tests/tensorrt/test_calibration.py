"""The calibration feed: batching, order, preprocessing and the folder source (no CUDA needed)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dsl_deploy.errors import DataError, InputError
from dsl_deploy.preprocess import preprocess
from dsl_deploy.spec import default_spec
from dsl_deploy.tensorrt.calibration import CalibrationFeed, folder_frames

SPEC = default_spec("resnet18", 33)


def _frame(i: int) -> np.ndarray:
    """A distinct frame per index (value i in every pixel), not of the network size."""
    return np.full((20, 30, 3), i, np.uint8)


def test_feed_serves_full_batches_in_order_and_drops_the_remainder():
    requested = []

    def frames(i):
        requested.append(i)
        return _frame(i)

    feed = CalibrationFeed(frames, count=10, batch=4, spec=SPEC)
    assert len(feed) == 2 and feed.dropped == 2
    batches = list(feed)
    assert len(batches) == 2 and feed.next_batch() is None
    assert requested == list(range(8))
    for b in batches:
        assert b.shape == (4, 3, 33, 33) and b.dtype == np.float32 and b.flags.c_contiguous
    # Frame 5 is the second of the second batch, preprocessed exactly as at inference time.
    expected, _ = preprocess(_frame(5), SPEC)
    np.testing.assert_array_equal(batches[1][1], expected[0])
    # Batches are independent copies (the preprocessor reuses its buffer).
    assert not np.shares_memory(batches[0], batches[1])
    assert not np.array_equal(batches[0], batches[1])


def test_feed_reset_starts_over():
    feed = CalibrationFeed(_frame, count=4, batch=2, spec=SPEC)
    first = feed.next_batch()
    feed.next_batch()
    assert feed.next_batch() is None
    feed.reset()
    np.testing.assert_array_equal(feed.next_batch(), first)
    assert feed.nbytes == 2 * 3 * 33 * 33 * 4


def test_feed_needs_one_full_batch():
    with pytest.raises(InputError, match="3 frame\\(s\\) is less than one batch of 4"):
        CalibrationFeed(_frame, count=3, batch=4, spec=SPEC)
    with pytest.raises(InputError, match="at least 1"):
        CalibrationFeed(_frame, count=3, batch=0, spec=SPEC)


def test_folder_source_spreads_picks_and_reads_bgr(tmp_path):
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), np.full((8, 8, 3), (i, 2 * i, 3 * i), np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    read, n = folder_frames(tmp_path, count=4)
    assert n == 4
    firsts = [int(read(k)[0, 0, 0]) for k in range(n)]
    assert firsts == [0, 3, 6, 9]  # evenly spread over the sorted files
    assert tuple(read(1)[0, 0]) == (3, 6, 9)


def test_folder_source_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        folder_frames(tmp_path / "nope", 4)
    with pytest.raises(DataError, match="no images"):
        folder_frames(tmp_path, 4)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    read, n = folder_frames(tmp_path, 4)
    assert n == 1
    with pytest.raises(DataError, match="broken.jpg: not a readable image"):
        read(0)
    jpeg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))[1].tobytes()
    (tmp_path / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # truncated: imread would pad it with grey
    with pytest.raises(DataError, match="broken.jpg: not a readable image"):
        read(0)
