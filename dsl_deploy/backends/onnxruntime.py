"""ONNX Runtime backend: runs a model exported by dsl-export (CPU, or CUDA/TensorRT providers). Never imports torch."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cache import cache_dir
from ..errors import ArtifactError, BackendUnavailable, InputError, first_line
from ..export.metadata import (
    INPUT_FLOAT,
    INPUT_FORMATS,
    INPUT_UINT8,
    META_FORMAT_VERSION,
    META_INPUT_FORMAT,
    META_SPEC,
    ONNX_FORMAT_VERSION,
)
from ..schema import describe
from ..spec import ModelSpec
from .base import Backend

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
        if META_SPEC not in meta:
            raise ArtifactError(f"{self.path}: the ONNX file has no '{META_SPEC}' metadata, so its model spec is "
                                "unknown; export it with dsl-export")
        version = meta.get(META_FORMAT_VERSION, "")
        if not (version.isascii() and version.isdigit() and len(version) <= 9):
            raise ArtifactError(f"{self.path}: metadata '{META_FORMAT_VERSION}' is {describe(version)}; expected "
                                f"an integer (this dsl_deploy reads 1..{ONNX_FORMAT_VERSION})")
        if int(version) > ONNX_FORMAT_VERSION:
            raise ArtifactError(f"{self.path}: ONNX format_version {version} is newer than this dsl_deploy reads "
                                f"({ONNX_FORMAT_VERSION}); upgrade dsl_deploy")
        fmt = meta.get(META_INPUT_FORMAT, INPUT_FLOAT)
        if fmt not in INPUT_FORMATS:
            raise ArtifactError(f"{self.path}: metadata '{META_INPUT_FORMAT}' is {describe(fmt)}; expected one of "
                                f"{', '.join(INPUT_FORMATS)} (a newer dsl_deploy made this file?)")
        self.input_format = fmt
        return ModelSpec.from_json(meta[META_SPEC], source=f"{self.path} metadata")

    def _check_io(self) -> None:
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [self.spec.input.name] or sorted(outputs) != sorted(self.spec.outputs):
            raise ArtifactError(f"{self.path}: graph inputs {inputs} / outputs {outputs}; expected "
                                f"[{self.spec.input.name}] / {list(self.spec.outputs)}")
        shape = list(self.session.get_inputs()[0].shape)
        batch_dim = shape[0] if shape else None
        self._fixed_batch = batch_dim if isinstance(batch_dim, int) else None
        self._check_input_size(shape)

    def _check_input_size(self, shape: list) -> None:
        """The graph's input must be what the metadata says: its element type, and the spec's size where the graph
        fixes it (else the first frame fails)."""
        h, w = self.spec.input.height, self.spec.input.width
        uint8 = self.input_format == INPUT_UINT8
        if uint8:
            names, want, layout = ("height", "width", "channels"), [h, w, 3], f"[batch, {h}, {w}, 3]"
        else:
            names, want, layout = ("channels", "height", "width"), [3, h, w], f"[batch, 3, {h}, {w}]"
        elem = self.session.get_inputs()[0].type
        if elem != ("tensor(uint8)" if uint8 else "tensor(float)"):
            said = (f"letterboxed uint8 frames ({META_INPUT_FORMAT} {INPUT_UINT8})" if uint8 else
                    f"normalised float32 (no {META_INPUT_FORMAT})")
            raise ArtifactError(f"{self.path}: graph input '{self.spec.input.name}' is {elem} but the metadata says "
                                f"{said}; the metadata does not belong to this graph: re-export it with dsl-export")
        if len(shape) != 4:
            raise ArtifactError(f"{self.path}: graph input '{self.spec.input.name}' has shape {shape}; expected "
                                f"{layout}")
        fixed = [(name, d) for name, d, x in zip(names, shape[1:], want) if isinstance(d, int) and d > 0 and d != x]
        if fixed:
            said = ", ".join(f"{name} {d}" for name, d in fixed)
            raise ArtifactError(f"{self.path}: the graph's input is [batch, {shape[1]}, {shape[2]}, {shape[3]}] "
                                f"({said}) but the spec in its metadata says {' x '.join(str(d) for d in want)} "
                                "(input.height x input.width); the metadata does not belong to this graph: "
                                "re-export the model with dsl-export")

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Host float32 arrays keyed 'player', 'offset', 'pif' (new arrays every call)."""
        if self.session is None:
            raise InputError(f"{self.path.name}: this backend was closed; open a new one")
        if self._fixed_batch is not None and batch.shape[0] != self._fixed_batch:
            raise InputError(f"input: {self.path.name} was exported with a fixed batch of {self._fixed_batch}, "
                             f"got {batch.shape[0]}; re-export with a dynamic batch")
        outs = self.session.run(self._outputs, {self._input: batch})
        return {name: np.asarray(out, dtype=np.float32) for name, out in zip(self._outputs, outs)}

    def close(self) -> None:
        """Drop the session (frees its memory once no other reference holds it)."""
        self.session = None
