"""Fixtures for the TensorRT tests: tiny ONNX models with (and without) the dsl_deploy spec metadata."""
from __future__ import annotations

from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
from dsl_testing.onnx_models import tiny_conv_model  # noqa: E402

SIZE = 33  # the smallest input the spec accepts; keeps every graph tiny


def tiny_model(size: int = SIZE, **kwargs) -> "onnx.ModelProto":
    """The 3-conv stand-in (dsl_testing.onnx_models.tiny_conv_model) at the smallest size by default."""
    return tiny_conv_model(size, **kwargs)


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """A valid tiny dsl_deploy ONNX file."""
    path = tmp_path / "model.onnx"
    onnx.save(tiny_model(), str(path))
    return path


@pytest.fixture
def make_onnx(tmp_path: Path):
    """Write a tiny model with options (with_spec, input_name, batch, size) and return its path."""
    def make(name: str = "variant.onnx", **kwargs) -> Path:
        path = tmp_path / name
        onnx.save(tiny_model(**kwargs), str(path))
        return path
    return make
