"""ONNX metadata keys and format version shared by the exporter and the ONNX Runtime backend (no torch)."""
from __future__ import annotations

ONNX_FORMAT_VERSION = 1
META_SPEC = "dsl_deploy.spec"
META_VERSION = "dsl_deploy.version"
META_FORMAT_VERSION = "dsl_deploy.format_version"
