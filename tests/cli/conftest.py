"""Fixtures of the command-line tests shared across files."""
from __future__ import annotations

from pathlib import Path

import pytest
from dsl_testing.onnx_models import write_disc_model


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    """The disc stand-in network at 129x129 as an ONNX file (dsl_testing.onnx_models), for the dsl-infer tests."""
    pytest.importorskip("onnx", reason="the stand-in model is written with onnx (the train extra)")
    path = tmp_path_factory.mktemp("m") / "disc.onnx"
    write_disc_model(path, 129)
    return path
