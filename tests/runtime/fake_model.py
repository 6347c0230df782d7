"""A tiny stand-in ONNX model with the real artifact's interface, for runtime tests (not the network).

It reads bright blobs on a dark frame as players: `player` is a sigmoid of the channel-mean brightness,
`offset` is zero (every pixel points at itself, so Eq. 4 assigns it to the nearest centre), and every
one of the 19 PIF types has, per cell, the blurred brightness as confidence at the cell's own position.
So one bright disc decodes as one player whose centre, box and ball sit on the disc: a known answer in
frame pixels once the pipeline maps results back through the letterbox.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dsl_deploy.export.metadata import META_FORMAT_VERSION, META_SPEC, META_VERSION, ONNX_FORMAT_VERSION
from dsl_deploy.spec import NUM_TYPES, ModelSpec, default_spec


def write_fake_model(path: Path, size: int = 129, spec: ModelSpec | None = None) -> ModelSpec:
    """Write the stand-in model for a square input `size`; returns its spec."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if spec is None:
        # Gaussians as wide as the cell spacing and cut at 3 sigma (not the default 1) fuse into one smooth
        # bump per blob, so a blob has exactly one maximum.
        base = default_spec("resnet18", size)
        spec = replace(base, decoder=replace(base.decoder, truncate=3.0))
    h, w = spec.input.height, spec.input.width
    hp, wp = spec.pif_size
    stride = spec.pif_stride
    grid_y, grid_x = np.mgrid[0:hp, 0:wp].astype(np.float32) * stride

    def const(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value), name)

    inits = [
        const("gain", np.array(10.0, np.float32)),
        const("zero", np.array(0.0, np.float32)),
        const("one", np.array(1.0, np.float32)),
        const("sigma", np.array(float(stride), np.float32)),
        const("grid_x", grid_x[None, None]),
        const("grid_y", grid_y[None, None]),
        const("tile", np.array([1, NUM_TYPES, 1, 1, 1], np.int64)),
        const("axis1", np.array([1], np.int64)),
    ]
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
    graph = helper.make_graph(
        nodes, "fake_dsl",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["B", 3, h, w])],
        [helper.make_tensor_value_info("player", TensorProto.FLOAT, ["B", 1, h, w]),
         helper.make_tensor_value_info("offset", TensorProto.FLOAT, ["B", 2, h, w]),
         helper.make_tensor_value_info("pif", TensorProto.FLOAT, ["B", NUM_TYPES, 5, hp, wp])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    for key, value in ((META_SPEC, spec.to_json()), (META_VERSION, "test"),
                       (META_FORMAT_VERSION, str(ONNX_FORMAT_VERSION))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return spec


def disc_frame(width: int, height: int, discs: list[tuple[int, int, int]]) -> np.ndarray:
    """A black BGR frame with white discs (x, y, radius)."""
    import cv2

    frame = np.zeros((height, width, 3), np.uint8)
    for x, y, r in discs:
        cv2.circle(frame, (x, y), r, (255, 255, 255), -1)
    return frame
