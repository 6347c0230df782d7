"""FP16: the network's arithmetic in half precision, its inputs, outputs and output tail in FP32 (no torch).

The conversion is ONNX Runtime's float16 converter (`onnxruntime.transformers.float16`, the converter of
onnxconverter-common carried inside onnxruntime): it rewrites initialisers and value types and puts a Cast at
each FP32/FP16 boundary, so the result is a strongly typed graph that TensorRT 10+ builds as it is.
"""
from __future__ import annotations

from typing import Any

from ..errors import BackendUnavailable

# Operators that stay FP32 wherever they are: ONNX Runtime's defaults plus Resize, whose bilinear weights in
# half precision shift the full-resolution semantic and offset maps by up to a pixel at 641.
KEEP_FP32_OPS = ("Resize", "Upsample")


def to_fp16(model: Any, keep_nodes: list[str]) -> Any:
    """A copy of `model` in FP16 with I/O FP32 and the named nodes (the output tail) kept FP32."""
    try:
        from onnxruntime.transformers import float16
    except ImportError as exc:
        raise BackendUnavailable(f"FP16 needs onnxruntime's float16 converter (onnxruntime.transformers): {exc}; "
                                 "pip install -U onnxruntime onnx") from None
    ops = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(KEEP_FP32_OPS))
    return float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=ops,
                                            node_block_list=list(keep_nodes))
