"""Put the input normalisation inside an exported ONNX graph, so the model takes uint8 frames.

The new graph input `image` is the letterboxed frame as it comes from the host: uint8 [B, H, W, 3], BGR. A
prologue casts it to float32, swaps the channels when the spec says RGB, transposes to NCHW and applies
(v / 255 - mean) / std as one multiply and one add per channel, in float32: the same numbers as
`preprocess.Preprocessor`, so the outputs equal the float model's on the same frames. ONNX Runtime, OpenVINO or
TensorRT then normalise on their device, and the host sends a quarter of the bytes. The letterbox resize stays
on the host (`Preprocessor(..., output="uint8")`): its geometry depends on each frame's size, and a 1080p frame
is 8x the bytes of the letterboxed input to move to a GPU.

The file records `dsl_deploy.input_format` = "uint8-nhwc-bgr" in its metadata. Needs the onnx package.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError
from ..spec import ModelSpec
from .metadata import INPUT_FORMATS, META_INPUT_FORMAT, META_SPEC

__all__ = ["INPUT_FORMATS", "META_INPUT_FORMAT", "add_uint8_input", "write_uint8_model"]
_NORMALISED = "image_normalised"


def add_uint8_input(model: Any, spec: ModelSpec) -> Any:
    """A copy of `model` (onnx.ModelProto with a float32 NCHW input) whose input is uint8 NHWC BGR frames."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    name = spec.input.name
    inputs = [i for i in model.graph.input if i.name == name]
    if len(inputs) != 1:
        raise ArtifactError(f"model: no graph input named {name!r} (inputs: {[i.name for i in model.graph.input]})")
    if inputs[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ArtifactError(f"model: input {name!r} is not float32; was it converted already?")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    for node in graph.node:  # the network now reads the prologue's output
        for k, value in enumerate(node.input):
            if value == name:
                node.input[k] = _NORMALISED
    dims = [d.dim_param or d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    batch = dims[0] if dims else "batch"
    h, w = spec.input.height, spec.input.width
    new_input = helper.make_tensor_value_info(name, TensorProto.UINT8, [batch, h, w, 3])
    kept = [i for i in graph.input if i.name != name]
    del graph.input[:]
    graph.input.extend([new_input, *kept])

    inp = spec.input
    scale = (1.0 / (255.0 * np.asarray(inp.std, np.float32))).astype(np.float32).reshape(1, 3, 1, 1)
    shift = (-np.asarray(inp.mean, np.float32) / np.asarray(inp.std, np.float32)).astype(np.float32).reshape(1, 3, 1, 1)
    order = np.array([2, 1, 0] if inp.channels == "RGB" else [0, 1, 2], np.int64)
    graph.initializer.extend([numpy_helper.from_array(scale, "prologue_scale"),
                              numpy_helper.from_array(shift, "prologue_shift"),
                              numpy_helper.from_array(order, "prologue_channels")])
    prologue = [
        helper.make_node("Cast", [name], ["prologue_float"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["prologue_float", "prologue_channels"], ["prologue_ordered"], axis=3),
        helper.make_node("Transpose", ["prologue_ordered"], ["prologue_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["prologue_nchw", "prologue_scale"], ["prologue_scaled"]),
        helper.make_node("Add", ["prologue_scaled", "prologue_shift"], [_NORMALISED]),
    ]
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(prologue + nodes)
    meta = {p.key: p.value for p in out.metadata_props}
    meta[META_INPUT_FORMAT] = INPUT_FORMATS[1]
    del out.metadata_props[:]
    for key, value in meta.items():
        out.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(out)
    return out


def write_uint8_model(source: str | Path, target: str | Path) -> Path:
    """Read an exported ONNX file (spec in its metadata), write its uint8-input version to `target`."""
    import onnx

    from ..spec import ModelSpec as Spec

    model = onnx.load(str(source))
    meta = {p.key: p.value for p in model.metadata_props}
    if META_SPEC not in meta:
        raise ArtifactError(f"{source}: no {META_SPEC} metadata; export it with dsl-export")
    spec = Spec.from_json(meta[META_SPEC])
    target = Path(target)
    onnx.save(add_uint8_input(model, spec), str(target))
    return target
