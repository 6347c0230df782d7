"""Fixtures of the benchmark tests: a tiny FP32 graph and its INT8 file, shared by the side-by-side tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """(FP32 file, its INT8 file) of the tiny stand-in, INT8 with its precision record (agreement on 2 frames)."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    from dsl_testing.onnx_models import tiny_conv_model

    from dsl_deploy.export.precision import PrecisionOptions, convert_precision

    folder = tmp_path_factory.mktemp("int8-pair")
    fp32, int8 = folder / "m.onnx", folder / "m.int8.onnx"
    onnx.save(tiny_conv_model(65), str(fp32))
    convert_precision(fp32, int8, PrecisionOptions(precision="int8", calib="synthetic:2", check_frames=2),
                      log=lambda m: None)
    return fp32, int8
