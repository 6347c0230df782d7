"""Export: ready-fields wrapper, ONNX export with the spec in the metadata, parity check, model info.

Everything but `metadata` needs torch; the names are imported lazily so that the runtime path can read
`dsl_deploy.export.metadata` without torch.
"""
from __future__ import annotations

from importlib import import_module

_NAMES = {
    "ReadyFields": "ready", "ready_fields": "ready", "export_onnx": "onnx_export", "check_parity": "parity",
    "model_info": "info", "sample_batch": "sample", "sample_frame": "sample", "ONNX_FORMAT_VERSION": "metadata",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
