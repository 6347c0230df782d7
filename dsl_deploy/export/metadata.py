"""ONNX metadata keys, format version and helpers for the exporter, the precision step and the backends (no torch)."""
from __future__ import annotations

ONNX_FORMAT_VERSION = 1
META_SPEC = "dsl_deploy.spec"
META_VERSION = "dsl_deploy.version"
META_FORMAT_VERSION = "dsl_deploy.format_version"
META_PRECISION = "dsl_deploy.precision"  # JSON: how the precision step made this file, and its measured agreement
# What the graph's input takes (export/uint8_input.py): normalised float32 NCHW (no metadata entry: every older file)
# or the letterboxed uint8 BGR frame NHWC that the graph normalises itself (dsl-export --uint8-input).
META_INPUT_FORMAT = "dsl_deploy.input_format"
INPUT_FLOAT, INPUT_UINT8 = "float-nchw", "uint8-nhwc-bgr"
INPUT_FORMATS = (INPUT_FLOAT, INPUT_UINT8)


def write_metadata(proto: object, values: dict[str, str]) -> None:
    """Set metadata_props keys of an ONNX ModelProto, replacing earlier values of the same keys."""
    props = proto.metadata_props  # type: ignore[attr-defined]
    keep = [p for p in props if p.key not in values]
    del props[:]
    props.extend(keep)
    for key, value in values.items():
        entry = props.add()
        entry.key, entry.value = key, value


def read_metadata(proto: object) -> dict[str, str]:
    """metadata_props of an ONNX ModelProto as a dict."""
    return {p.key: p.value for p in proto.metadata_props}  # type: ignore[attr-defined]
