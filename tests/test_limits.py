"""The pixel limit on frames (issue 12, F8): image sizes read from headers, before anything is decoded."""
from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.limits import MAX_PIXELS, check_pixels, header_size
from dsl_deploy.runtime.sources import ImageFiles, open_source


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".ppm", ".pgm"])
def test_f8_header_size_matches_what_opencv_decodes(ext: str):
    image = np.zeros((37, 53, 1 if ext == ".pgm" else 3), np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok and header_size(data.tobytes()) == (53, 37)


def test_f8_header_size_of_odd_data_is_none():
    assert header_size(b"") is None and header_size(b"\xff\xd8\x00") is None and header_size(b"GIF8") is None


def _huge_png(path: Path, side: int = 20000) -> Path:
    """A valid PNG header declaring side x side pixels, a few bytes long (what a 1.1 MB bomb starts with)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
                     + b"\x00" * 64)
    return path


def test_f8_a_20000x20000_png_is_refused_before_decoding(tmp_path: Path):
    src = ImageFiles([_huge_png(tmp_path / "bomb.png")], "bomb.png")
    t0 = time.perf_counter()
    frame = next(iter(src.frames()))
    assert time.perf_counter() - t0 < 1.0 and frame.corrupt
    assert "bomb.png: 20000x20000 is 400.0 MP, above the limit of 50 MP per frame; raise it with --max-pixels" \
        in frame.error


def test_f8_the_limit_can_be_raised_and_applies_to_frames_in_memory():
    check_pixels(8000, 6000, 48_000_000, "ok")
    with pytest.raises(InputError, match="frame: 8000x6001 is 48.0 MP, above the limit of 48 MP"):
        check_pixels(8000, 6001, 48_000_000, "frame")
    assert MAX_PIXELS >= 7680 * 4320  # 8K UHD passes by default
    with pytest.raises(InputError, match="max_pixels: expected a positive number"):
        open_source([np.zeros((4, 4, 3), np.uint8)], max_pixels=0)


def test_f8_pipeline_refuses_a_frame_above_its_limit():
    pytest.importorskip("onnx", reason="the stand-in model is written with onnx")
    import tempfile

    from dsl_testing.onnx_models import write_disc_model

    from dsl_deploy.runtime import Pipeline

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.onnx"
        write_disc_model(model, 65)
        with Pipeline(model, decoder="numpy", max_pixels=10_000) as pipeline:
            with pytest.raises(InputError, match="frame: 200x100 is 0.0 MP, above the limit of 0.01 MP"):
                pipeline(np.zeros((100, 200, 3), np.uint8))
            assert pipeline(np.zeros((50, 200, 3), np.uint8)).labels.shape == (50, 200)
            stream = pipeline.stream([np.zeros((100, 200, 3), np.uint8), np.zeros((50, 100, 3), np.uint8)])
            with stream:
                assert [r.labels.shape for r in stream] == [(50, 100)]
            assert stream.stats.corrupt == 1
