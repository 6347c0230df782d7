"""Fixtures for the runtime tests: a stand-in ONNX model (dsl_testing.onnx_models) and small videos of bright discs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dsl_testing.onnx_models import disc_frame as draw_discs
from dsl_testing.onnx_models import write_disc_model


VIDEO_W, VIDEO_H, VIDEO_FRAMES = 258, 160, 24


def _disc_positions(i: int) -> list[tuple[int, int, int]]:
    """Discs (x, y, radius) of video frame i: one moving right, one still."""
    return [(40 + 4 * i, 60, 18), (200, 110, 15)]


def write_disc_video(path: Path, frames: int = VIDEO_FRAMES, width: int = VIDEO_W, height: int = VIDEO_H) -> Path:
    """An MJPG .avi of `frames` frames of bright discs on black."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for i in range(frames):
        writer.write(draw_discs(width, height, _disc_positions(i % 40)))
    writer.release()
    return path


@pytest.fixture(scope="session")
def fake_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the stand-in model at 129x129."""
    pytest.importorskip("onnx", reason="the stand-in model is written with onnx (the train extra)")
    path = tmp_path_factory.mktemp("model") / "fake129.onnx"
    write_disc_model(path, 129)
    return path


@pytest.fixture(scope="session")
def disc_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-frame 258x160 MJPG video of discs."""
    return write_disc_video(tmp_path_factory.mktemp("video") / "discs.avi")


@pytest.fixture
def disc_frame():
    """dsl_testing.onnx_models.disc_frame(width, height, discs)."""
    return draw_discs


@pytest.fixture
def disc_positions():
    """disc_positions(i): the discs of frame i of the disc video."""
    return _disc_positions


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
