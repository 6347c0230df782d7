"""Backends: torch (training framework), ONNX Runtime, OpenVINO, TensorRT; one loader opens every artifact.

`base.py` holds the contract every backend follows (one input check, declared capabilities). The TensorRT backend
lives in `dsl_deploy.tensorrt` beside the rest of TensorRT (engine builder, target profiles, sidecar, cuda-python
runtime), as mmdeploy keeps one package per backend: it shares the sidecar checks and CUDA buffers with the builder,
and this package stays free of TensorRT. ONNX Runtime, OpenVINO (an optional extra) and torch need no build step and
live here.

`load_backend(path, backend=...)` names the runtime with the words of `Backend.name` and of the target profiles'
`backend` field: a .onnx file runs on `onnxruntime` (the default) or `openvino`; an engine on `tensorrt`; a
checkpoint on `torch`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ArtifactError, InputError
from .base import Backend

__all__ = ["Backend", "load_backend", "artifact_kind", "backend_options", "runtime_for", "RUNTIMES"]

#: The runtimes that open each kind of artifact, the default first.
RUNTIMES = {"onnx": ("onnxruntime", "openvino"), "engine": ("tensorrt",), "checkpoint": ("torch",)}


def artifact_kind(path: str | Path) -> str:
    """'checkpoint', 'onnx' or 'engine', from the file suffix."""
    suffix = Path(path).suffix.lower()
    kinds = {".pth": "checkpoint", ".pt": "checkpoint", ".onnx": "onnx", ".engine": "engine", ".plan": "engine"}
    if suffix not in kinds:
        raise ArtifactError(f"{path}: unknown artifact type '{suffix}'; expected .pth (checkpoint), "
                            ".onnx or .engine")
    return kinds[suffix]


def runtime_for(path: str | Path, backend: str | None = None) -> str:
    """The runtime that opens `path`: `backend` checked against what opens its kind, or that kind's default."""
    kind = artifact_kind(path)
    if backend is None or backend == "auto":
        return RUNTIMES[kind][0]
    known = sorted({name for names in RUNTIMES.values() for name in names})
    if backend not in known:
        raise InputError(f"backend: {backend!r} is not one of auto, {', '.join(known)}")
    if backend not in RUNTIMES[kind]:
        raise InputError(f"backend: {backend} does not open {Path(path).name} (a {kind}); "
                         f"a .{Path(path).suffix.lstrip('.').lower()} file runs on {' or '.join(RUNTIMES[kind])}")
    return backend


#: The constructor options each runtime takes besides the path (what backend_options checks).
RUNTIME_OPTIONS = {"onnxruntime": ("threads", "providers"), "openvino": ("threads", "precision_hint")}


def backend_options(path: str | Path, backend: str | None = None, **given: Any) -> dict[str, Any]:
    """The options given (None: not given) that the runtime opening `path` takes; InputError for one it does not."""
    runtime = runtime_for(path, backend)
    takes = RUNTIME_OPTIONS.get(runtime, ())
    wrong = [name for name, value in given.items() if value is not None and name not in takes]
    if wrong:
        users = {name: [r for r, names in RUNTIME_OPTIONS.items() if name in names] for name in wrong}
        said = "; ".join(f"{name} applies to {' and '.join(users[name])} only" for name in wrong)
        raise InputError(f"{Path(path).name} runs on {runtime}: {said}")
    return {name: value for name, value in given.items() if value is not None}


def load_backend(path: str | Path, backend: str | None = None, **options) -> Backend:
    """Open any artifact behind the same Backend interface (imports only what that artifact needs); `backend` names
    the runtime (RUNTIMES; default: onnxruntime for .onnx files), `options` go to its constructor."""
    if not str(path).strip():
        raise ArtifactError("model: the path is empty; give a .pth, .onnx or .engine file")
    p = Path(path)
    runtime = runtime_for(p, backend)
    if not p.is_file():
        raise ArtifactError(f"{p}: no such file")
    if runtime == "onnxruntime":
        from .onnxruntime import OnnxRuntimeBackend
        return OnnxRuntimeBackend(p, **options)
    if runtime == "openvino":
        from .openvino import OpenVinoBackend
        return OpenVinoBackend(p, **options)
    if runtime == "tensorrt":
        from ..tensorrt.backend import TensorRTBackend
        return TensorRTBackend(p, **options)
    from .torch_backend import TorchBackend
    return TorchBackend(p, **options)
