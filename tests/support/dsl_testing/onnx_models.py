"""Stand-in ONNX models with the artifact's interface (image -> player, offset, pif; the spec in metadata).

Three graphs, one frame: `tiny_conv_model` (random 3-conv heads, for the TensorRT and build tests),
`write_disc_model` (bright discs decode as players: known answers for the runtime), and
`write_constant_fields_model` (returns given fields for any input: known answers for evaluation).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from dsl_deploy.export.metadata import META_FORMAT_VERSION, META_SPEC, META_VERSION, ONNX_FORMAT_VERSION
from dsl_deploy.spec import NUM_TYPES, ModelSpec, default_spec


def ready_fields_model(spec: ModelSpec, nodes: list, initializers: list, *, name: str, input_name: str = "image",
                       batch: int | str = "B", opset: int = 18, with_spec: bool = True) -> Any:
    """Wrap `nodes` (which read `input_name` and write player, offset, pif) into a model with the
    ready-field inputs, outputs and metadata of a dsl-export artifact."""
    from onnx import TensorProto, helper

    h, w = spec.input.height, spec.input.width
    hp, wp = spec.pif_size
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("player", TensorProto.FLOAT, [batch, 1, h, w]),
         helper.make_tensor_value_info("offset", TensorProto.FLOAT, [batch, 2, h, w]),
         helper.make_tensor_value_info("pif", TensorProto.FLOAT, [batch, NUM_TYPES, 5, hp, wp])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # readable by every onnxruntime the project supports
    if with_spec:
        helper.set_model_props(model, {META_SPEC: spec.to_json(), META_VERSION: "test",
                                       META_FORMAT_VERSION: str(ONNX_FORMAT_VERSION)})
    return model


def save_checked(model: Any, path: Path) -> None:
    """onnx.checker, then save."""
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def tiny_conv_model(size: int = 33, *, with_spec: bool = True, input_name: str = "image",
                    batch: int | str = "B") -> Any:
    """A 3-conv graph with random weights: image -> player (sigmoid), offset, pif [B,19,5,Hp,Wp]."""
    from onnx import helper, numpy_helper

    spec = default_spec("resnet18", size)
    hp, wp = spec.pif_size
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (1, 3, 3, 3)).astype(np.float32), "w_player"),
        numpy_helper.from_array(rng.normal(0, 0.3, (2, 3, 3, 3)).astype(np.float32), "w_offset"),
        numpy_helper.from_array(rng.normal(0, 0.3, (NUM_TYPES * 5, 3, 1, 1)).astype(np.float32), "w_pif"),
        numpy_helper.from_array(np.array([0, NUM_TYPES, 5, hp, wp], np.int64), "pif_shape"),
    ]
    nodes = [
        helper.make_node("Conv", [input_name, "w_player"], ["semantic"], pads=[1, 1, 1, 1], name="head_player"),
        helper.make_node("Sigmoid", ["semantic"], ["player"], name="player_sigmoid"),
        helper.make_node("Conv", [input_name, "w_offset"], ["offset"], pads=[1, 1, 1, 1], name="head_offset"),
        helper.make_node("Conv", [input_name, "w_pif"], ["pif_raw"], strides=[8, 8], name="head_pif"),
        helper.make_node("Reshape", ["pif_raw", "pif_shape"], ["pif_5d"], name="pif_reshape"),
        helper.make_node("Sigmoid", ["pif_5d"], ["pif"], name="pif_sigmoid"),
    ]
    return ready_fields_model(spec, nodes, inits, name="tiny_dsl", input_name=input_name, batch=batch, opset=17,
                              with_spec=with_spec)


def write_disc_model(path: Path, size: int = 129, spec: ModelSpec | None = None) -> ModelSpec:
    """Write a model that reads bright blobs on a dark frame as players; returns its spec.

    `player` is a sigmoid of the channel-mean brightness, `offset` is zero (every pixel points at itself,
    so Eq. 4 assigns it to the nearest centre), and each of the 19 PIF types has, per cell, the blurred
    brightness as confidence at the cell's own position. So one bright disc decodes as one player whose
    centre, box and ball sit on the disc: a known answer in frame pixels after the letterbox.
    """
    from onnx import helper, numpy_helper

    if spec is None:
        # Gaussians as wide as the cell spacing and cut at 3 sigma (not the default 1) fuse into one smooth
        # bump per blob, so a blob has exactly one maximum.
        base = default_spec("resnet18", size)
        spec = replace(base, decoder=replace(base.decoder, truncate=3.0))
    hp, wp = spec.pif_size
    stride = spec.pif_stride
    grid_y, grid_x = np.mgrid[0:hp, 0:wp].astype(np.float32) * stride
    constants = {"gain": np.array(10.0, np.float32), "zero": np.array(0.0, np.float32),
                 "one": np.array(1.0, np.float32), "sigma": np.array(float(stride), np.float32),
                 "grid_x": grid_x[None, None], "grid_y": grid_y[None, None],
                 "tile": np.array([1, NUM_TYPES, 1, 1, 1], np.int64), "axis1": np.array([1], np.int64)}
    inits = [numpy_helper.from_array(value, key) for key, value in constants.items()]
    nodes = [
        helper.make_node("ReduceMean", ["image", "axis1"], ["bright"], keepdims=1),
        helper.make_node("Mul", ["bright", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["player"]),
        helper.make_node("Mul", ["player", "zero"], ["z1"]),
        helper.make_node("Concat", ["z1", "z1"], ["offset"], axis=1),
        # Blur before sampling each cell, so a blob's confidence peaks at its middle cell.
        helper.make_node("AveragePool", ["player"], ["blur"], kernel_shape=[17, 17], pads=[8, 8, 8, 8],
                         strides=[stride, stride], count_include_pad=1),
        helper.make_node("Mul", ["blur", "zero"], ["zc"]),
        helper.make_node("Add", ["zc", "grid_x"], ["px"]),
        helper.make_node("Add", ["zc", "grid_y"], ["py"]),
        helper.make_node("Add", ["zc", "one"], ["pb"]),
        helper.make_node("Add", ["zc", "sigma"], ["ps"]),
        helper.make_node("Concat", ["blur", "px", "py", "pb", "ps"], ["cell"], axis=1),
        helper.make_node("Unsqueeze", ["cell", "axis1"], ["cell5"]),
        helper.make_node("Tile", ["cell5", "tile"], ["pif"]),
    ]
    save_checked(ready_fields_model(spec, nodes, inits, name="fake_dsl"), path)
    return spec


def write_constant_fields_model(path: Path, spec: ModelSpec, fields: dict[str, np.ndarray]) -> None:
    """Write a model that returns `fields` (player, offset, pif of one image) for any input, batch included."""
    from onnx import helper, numpy_helper

    inits = [numpy_helper.from_array(fields[k][None].astype(np.float32), f"c_{k}") for k in ("player", "offset", "pif")]
    inits += [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
              numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
              numpy_helper.from_array(np.array([4], np.int64), "axis4")]
    nodes = [
        # A zero that depends on the input, so the outputs follow its batch size.
        helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["z4"]),
        helper.make_node("Unsqueeze", ["z4", "axis4"], ["z5"]),
        helper.make_node("Add", ["z4", "c_player"], ["player"]),
        helper.make_node("Add", ["z4", "c_offset"], ["offset"]),
        helper.make_node("Add", ["z5", "c_pif"], ["pif"]),
    ]
    save_checked(ready_fields_model(spec, nodes, inits, name="oracle"), path)


def disc_frame(width: int, height: int, discs: list[tuple[int, int, int]]) -> np.ndarray:
    """A black BGR frame with white discs (x, y, radius)."""
    import cv2

    frame = np.zeros((height, width, 3), np.uint8)
    for x, y, r in discs:
        cv2.circle(frame, (x, y), r, (255, 255, 255), -1)
    return frame
