"""ONNX Runtime backend: runs a model exported by dsl-export (CPU, or CUDA/TensorRT providers). Never imports torch."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cache import cache_dir
from ..errors import ArtifactError, BackendUnavailable, InputError, first_line
from ..export.metadata import INPUT_UINT8
from ..spec import ModelSpec
from .base import Backend
from .onnx_file import check_input, check_io, check_runnable, input_format_from_metadata, spec_from_metadata

# Preference order for providers="auto": the fastest provider that this onnxruntime build offers.
AUTO_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
SHORT_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def resolve_providers(providers: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Execution providers to request: 'auto'/None picks from AUTO_ORDER; names may be short ('cpu', 'cuda')."""
    if providers is None or providers == "auto":
        return [p for p in AUTO_ORDER if p in available] or ["CPUExecutionProvider"]
    wanted = [providers] if isinstance(providers, str) else list(providers)
    names = [SHORT_NAMES.get(p.lower(), p) if isinstance(p, str) else p for p in wanted]
    missing = [n for n in names if n not in available]
    if missing:
        raise BackendUnavailable(f"onnxruntime: provider(s) {missing} not available here (available: "
                                 f"{list(available)}); install onnxruntime-gpu for CUDA/TensorRT or use 'cpu'")
    return names


def _with_options(providers: list[str]) -> list:
    """Provider list for InferenceSession; TensorRT gets an engine cache so a restart does not rebuild."""
    out: list = []
    for name in providers:
        if name == "TensorrtExecutionProvider":
            cache = cache_dir("ort-trt")  # TensorRT engines of the provider
            cache.mkdir(parents=True, exist_ok=True)
            out.append((name, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}))
        else:
            out.append(name)
    return out


class OnnxRuntimeBackend(Backend):
    """An exported .onnx file on ONNX Runtime; the spec and the input format come from the file's metadata."""

    name = "onnxruntime"

    @classmethod
    def is_available(cls) -> bool:
        """Whether onnxruntime is installed."""
        return importlib.util.find_spec("onnxruntime") is not None

    def __init__(self, path: str | Path, *, providers: str | Sequence[str] | None = None,
                 threads: int | None = None):
        if not self.is_available():
            raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)")
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ArtifactError(f"{self.path}: no such ONNX file")
        if threads is not None and threads < 1:
            raise InputError(f"threads: expected a positive number, got {threads}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # ORT's own warnings go to stderr unasked; errors still raise
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        requested = resolve_providers(providers, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=_with_options(requested))
        except Exception as exc:  # ORT raises its own pybind types (InvalidProtobuf, Fail, ...) for bad files
            raise ArtifactError(f"{self.path}: not a readable ONNX model ({first_line(exc)}); "
                                "re-export it with dsl-export") from None
        self.spec = self._read_spec()
        self._check_io()
        self._input = self.session.get_inputs()[0].name
        self._outputs = list(self.spec.outputs)

    @property
    def providers(self) -> list[str]:
        """Execution providers the session actually uses, in priority order."""
        return list(self.session.get_providers())

    def _read_spec(self) -> ModelSpec:
        meta = self.session.get_modelmeta().custom_metadata_map
        spec = spec_from_metadata(meta, self.path)
        self.input_format = input_format_from_metadata(meta, self.path)
        return spec

    def _check_io(self) -> None:
        check_io(self.path, self.spec, [i.name for i in self.session.get_inputs()],
                 [o.name for o in self.session.get_outputs()])
        graph_input = self.session.get_inputs()[0]
        expected = "tensor(uint8)" if self.input_format == INPUT_UINT8 else "tensor(float)"
        self._fixed_batch = check_input(self.path, self.spec, self.input_format, list(graph_input.shape),
                                        graph_input.type, expected)

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Host float32 arrays keyed 'player', 'offset', 'pif' (new arrays every call)."""
        check_runnable(self.path, self.session is not None, self._fixed_batch, batch.shape[0])
        outs = self.session.run(self._outputs, {self._input: batch})
        return {name: np.asarray(out, dtype=np.float32) for name, out in zip(self._outputs, outs)}

    def close(self) -> None:
        """Drop the session (frees its memory once no other reference holds it)."""
        self.session = None
