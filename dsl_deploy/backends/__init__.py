"""Backends: torch (training framework), ONNX Runtime, TensorRT; one loader opens every artifact.

`base.py` holds the contract every backend follows (one input check, declared capabilities). The TensorRT backend
lives in `dsl_deploy.tensorrt` beside the rest of TensorRT (engine builder, target profiles, sidecar, cuda-python
runtime), as mmdeploy keeps one package per backend: it shares the sidecar checks and CUDA buffers with the builder,
and this package stays free of TensorRT. ONNX Runtime and torch need no build step and live here.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ArtifactError
from .base import Backend

__all__ = ["Backend", "load_backend", "artifact_kind"]


def artifact_kind(path: str | Path) -> str:
    """'checkpoint', 'onnx' or 'engine', from the file suffix."""
    suffix = Path(path).suffix.lower()
    kinds = {".pth": "checkpoint", ".pt": "checkpoint", ".onnx": "onnx", ".engine": "engine", ".plan": "engine"}
    if suffix not in kinds:
        raise ArtifactError(f"{path}: unknown artifact type '{suffix}'; expected .pth (checkpoint), "
                            ".onnx or .engine")
    return kinds[suffix]


def load_backend(path: str | Path, **options) -> Backend:
    """Open any artifact behind the same Backend interface (imports only what that artifact needs)."""
    if not str(path).strip():
        raise ArtifactError("model: the path is empty; give a .pth, .onnx or .engine file")
    p = Path(path)
    kind = artifact_kind(p)
    if not p.is_file():
        raise ArtifactError(f"{p}: no such file")
    if kind == "onnx":
        from .onnxruntime import OnnxRuntimeBackend
        return OnnxRuntimeBackend(p, **options)
    if kind == "engine":
        from ..tensorrt.backend import TensorRTBackend
        return TensorRTBackend(p, **options)
    from .torch_backend import TorchBackend
    return TorchBackend(p, **options)
