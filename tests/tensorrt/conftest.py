"""Fixtures for the TensorRT tests: tiny ONNX models with (and without) the dsl_deploy spec metadata."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.spec import default_spec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 33  # the smallest input the spec accepts; keeps every graph tiny


def tiny_model(size: int = SIZE, *, with_spec: bool = True, input_name: str = "image",
               batch: int | str = "B") -> "onnx.ModelProto":
    """A 3-conv graph with the ready-field contract: image -> player (sigmoid), offset, pif [B,19,5,Hp,Wp]."""
    spec = default_spec("resnet18", size)
    hp, wp = spec.pif_size
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (1, 3, 3, 3)).astype(np.float32), "w_player"),
        numpy_helper.from_array(rng.normal(0, 0.3, (2, 3, 3, 3)).astype(np.float32), "w_offset"),
        numpy_helper.from_array(rng.normal(0, 0.3, (95, 3, 1, 1)).astype(np.float32), "w_pif"),
        numpy_helper.from_array(np.array([0, 19, 5, hp, wp], np.int64), "pif_shape"),
    ]
    nodes = [
        helper.make_node("Conv", [input_name, "w_player"], ["semantic"], pads=[1, 1, 1, 1], name="head_player"),
        helper.make_node("Sigmoid", ["semantic"], ["player"], name="player_sigmoid"),
        helper.make_node("Conv", [input_name, "w_offset"], ["offset"], pads=[1, 1, 1, 1], name="head_offset"),
        helper.make_node("Conv", [input_name, "w_pif"], ["pif_raw"], strides=[8, 8], name="head_pif"),
        helper.make_node("Reshape", ["pif_raw", "pif_shape"], ["pif_5d"], name="pif_reshape"),
        helper.make_node("Sigmoid", ["pif_5d"], ["pif"], name="pif_sigmoid"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_dsl",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("player", TensorProto.FLOAT, [batch, 1, size, size]),
         helper.make_tensor_value_info("offset", TensorProto.FLOAT, [batch, 2, size, size]),
         helper.make_tensor_value_info("pif", TensorProto.FLOAT, [batch, 19, 5, hp, wp])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_spec:
        helper.set_model_props(model, {"dsl_deploy.spec": spec.to_json(), "dsl_deploy.format_version": "1"})
    return model


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
