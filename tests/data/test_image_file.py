"""Strict image reading: damaged files are refused instead of decoded into grey."""
from __future__ import annotations

import cv2
import numpy as np

from dsl_deploy.data.image_file import read_image_file


def _truncated_jpeg(path):
    noisy = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", noisy)[1].tobytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_damaged_files_are_refused(tmp_path):
    assert cv2.imread(str(_truncated_jpeg(tmp_path / "t.jpg"))) is not None  # what the strict reader guards against
    assert read_image_file(tmp_path / "t.jpg") is None
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    for name in ("zero.png", "text.jpg", "missing.png"):
        assert read_image_file(tmp_path / name) is None, name


def test_whole_files_decode_like_imread(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    np.testing.assert_array_equal(read_image_file(tmp_path / "a.png"), image)
    deep = (np.arange(12, dtype=np.uint16) * 1000).reshape(3, 4)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    got = read_image_file(tmp_path / "d.png", cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16 and np.array_equal(got, deep)
