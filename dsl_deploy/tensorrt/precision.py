"""Which layers keep a higher precision in FP16/INT8 engines: the output tail and user patterns."""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Iterable

from .api import Network, TrtModule
from .compat import layer_type_name
from .profiles import LayerPrecision

# Layers that end the output tail: the last learned layers run in the reduced precision.
COMPUTE_TYPES = frozenset({"CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY", "FULLY_CONNECTED"})
# Layers whose precision means nothing (no arithmetic on activations).
SKIP_TYPES = frozenset({"CONSTANT", "SHAPE", "ASSERTION", "CONDITION", "IDENTITY_SHAPE"})


@dataclass(frozen=True)
class LayerInfo:
    """The parts of a network layer this module looks at."""

    index: int
    name: str
    type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    float_output: bool  # any float output (shape/index tensors have none)


def output_tail(layers: list[LayerInfo], network_outputs: Iterable[str]) -> set[int]:
    """Indices of the layers between the last compute layers and the network outputs (sigmoid, exp, scaling)."""
    producer = {t: layer.index for layer in layers for t in layer.outputs}
    by_index = {layer.index: layer for layer in layers}
    tail: set[int] = set()
    stack = [producer[t] for t in network_outputs if t in producer]
    while stack:
        i = stack.pop()
        if i in tail:
            continue
        layer = by_index[i]
        if layer.type in COMPUTE_TYPES:
            continue
        tail.add(i)
        stack.extend(producer[t] for t in layer.inputs if t in producer)
    return tail


def select(layers: list[LayerInfo], network_outputs: Iterable[str], rules: LayerPrecision,
           extra_fp32: Iterable[str] = (), extra_fp16: Iterable[str] = ()) -> tuple[list[LayerInfo], list[LayerInfo]]:
    """(layers pinned to FP32, layers pinned to FP16); FP32 wins when a layer matches both."""
    fp32_patterns = tuple(rules.fp32) + tuple(extra_fp32)
    fp16_patterns = tuple(rules.fp16) + tuple(extra_fp16)
    tail = output_tail(layers, network_outputs) if rules.keep_outputs_fp32 else set()
    fp32, fp16 = [], []
    for layer in layers:
        if layer.type in SKIP_TYPES or not layer.float_output:
            continue
        if layer.index in tail or any(fnmatchcase(layer.name, p) for p in fp32_patterns):
            fp32.append(layer)
        elif any(fnmatchcase(layer.name, p) for p in fp16_patterns):
            fp16.append(layer)
    return fp32, fp16


def describe_network(trt: TrtModule, network: Network) -> tuple[list[LayerInfo], list[str]]:
    """LayerInfo for every layer of a TensorRT network, and its output tensor names."""
    floats = {trt.float32, trt.float16}
    layers = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        ins = tuple(t.name for t in (layer.get_input(j) for j in range(layer.num_inputs)) if t is not None)
        outs = [layer.get_output(j) for j in range(layer.num_outputs)]
        layers.append(LayerInfo(i, layer.name, layer_type_name(layer), ins, tuple(t.name for t in outs),
                                any(t.dtype in floats for t in outs)))
    outputs = [network.get_output(i).name for i in range(network.num_outputs)]
    return layers, outputs


def apply(trt: TrtModule, network: Network, fp32: list[LayerInfo], fp16: list[LayerInfo]) -> None:
    """Set layer precision and output types (the builder honours them under the precision-constraint flag)."""
    floats = {trt.float32, trt.float16}
    for infos, dtype in ((fp32, trt.float32), (fp16, trt.float16)):
        for info in infos:
            layer = network.get_layer(info.index)
            layer.precision = dtype
            for j in range(layer.num_outputs):
                if layer.get_output(j).dtype in floats:
                    layer.set_output_type(j, dtype)
