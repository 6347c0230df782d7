"""Export: ready-fields wrapper, ONNX export with the spec in the metadata, parity check, model info; needs torch."""
from __future__ import annotations

from .info import model_info
from .onnx_export import ONNX_FORMAT_VERSION, export_onnx
from .parity import check_parity
from .ready import ReadyFields, ready_fields
from .sample import sample_batch, sample_frame

__all__ = ["ReadyFields", "ready_fields", "export_onnx", "check_parity", "model_info", "sample_batch",
           "sample_frame", "ONNX_FORMAT_VERSION"]
