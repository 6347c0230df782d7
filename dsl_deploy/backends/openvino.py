"""OpenVINO backend: runs the .onnx files of dsl-export (FP32, FP16, INT8 Q/DQ) on the CPU. Never imports torch.

OpenVINO reads the ONNX file itself (no conversion step, no IR files): the precision is in the graph, so an
INT8 file of `dsl-export --precision int8` (cpu scheme) runs as OpenVINO's own quantised convolutions, and a file of
`dsl-export --uint8-input` takes letterboxed uint8 frames (`input_format`, from the metadata, as on ONNX Runtime).
The one setting of its own is the inference precision of the layers the file leaves in floating point:

- `precision_hint="f32"` (default): FP32, as ONNX Runtime computes them; set explicitly because OpenVINO's own
  default on a CPU with BF16 (AMX, AVX512_BF16) is BF16;
- `"bf16"`: BF16, refused on a CPU whose OpenVINO CPU plugin does not report BF16 in its
  OPTIMIZATION_CAPABILITIES (OpenVINO 2026 then emulates it: 3.1x slower than FP32 on an Ice Lake Xeon here);
- `"auto"`: BF16 where the CPU has it, else FP32.

`inference_precision` says what the compiled model actually uses ('f32' or 'bf16').
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, BackendUnavailable, InputError, first_line
from ..export.metadata import INPUT_UINT8
from ..spec import ModelSpec
from .base import Backend
from .onnx_file import check_input, check_io, check_runnable, input_format_from_metadata, spec_from_metadata
from .signal_stack import kept_signal_stack

DEVICE = "CPU"
PRECISION_HINTS = ("f32", "bf16", "auto")
INSTALL = "pip install 'dsl_deploy[openvino]'"


def _openvino() -> Any:
    """The openvino module, or BackendUnavailable naming the extra that installs it."""
    if importlib.util.find_spec("openvino") is None:
        raise BackendUnavailable(f"openvino is not installed: {INSTALL}")
    import openvino

    return openvino


def cpu_capabilities(core: Any = None) -> list[str]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU (e.g. FP32, INT8, BF16)."""
    with kept_signal_stack():  # the first property read loads the CPU plugin
        core = core if core is not None else _openvino().Core()
        return [str(c) for c in core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")]


def cpu_has_bf16(core: Any = None) -> bool:
    """Whether OpenVINO runs BF16 natively on this CPU (AVX512_BF16 or AMX)."""
    return "BF16" in cpu_capabilities(core)


def resolve_precision_hint(hint: str, capabilities: list[str]) -> str:
    """'f32' or 'bf16' for a hint of PRECISION_HINTS on a CPU with these OpenVINO capabilities."""
    if hint not in PRECISION_HINTS:
        raise InputError(f"precision_hint: expected one of {', '.join(PRECISION_HINTS)}, got {hint!r}")
    has_bf16 = "BF16" in capabilities
    if hint == "bf16" and not has_bf16:
        raise BackendUnavailable(f"openvino: this CPU has no BF16 (OpenVINO's CPU capabilities: "
                                 f"{', '.join(capabilities)}); it would be emulated, slower than FP32: use "
                                 "precision_hint 'f32', or 'auto' (BF16 only where the CPU has it)")
    return "bf16" if hint == "auto" and has_bf16 else ("f32" if hint == "auto" else hint)


def _type_name(value: Any) -> str:
    """'f32' / 'bf16' from what get_property returns (an openvino Type, or a string in some versions)."""
    name = getattr(value, "get_type_name", None)
    return str(name() if callable(name) else value).lower()


class OpenVinoBackend(Backend):
    """An exported .onnx file on OpenVINO's CPU plugin; the spec comes from the file's metadata."""

    name = "openvino"

    @classmethod
    def is_available(cls) -> bool:
        """Whether openvino is installed."""
        return importlib.util.find_spec("openvino") is not None

    def __init__(self, path: str | Path, *, threads: int | None = None, precision_hint: str = "f32"):
        ov = _openvino()
        self.path = Path(path)
        self._request: Any = None
        if not self.path.is_file():
            raise ArtifactError(f"{self.path}: no such ONNX file")
        if self.path.suffix.lower() != ".onnx":
            raise ArtifactError(f"{self.path}: expected an .onnx file exported by dsl-export (its spec is in the "
                                "ONNX metadata)")
        if threads is not None and threads < 1:
            raise InputError(f"threads: expected a positive number, got {threads}")
        self.precision_hint = precision_hint
        with kept_signal_stack():
            self._load(ov.Core(), threads)

    def _load(self, core: Any, threads: int | None) -> None:
        """Read, check and compile the file on `core`; sets the spec, input format and infer request."""
        precision_hint = self.precision_hint
        hint = resolve_precision_hint(precision_hint, cpu_capabilities(core))
        try:
            model = core.read_model(str(self.path))
            failure = ""
        except Exception as exc:  # openvino raises its own RuntimeError subclasses for unreadable files
            failure = first_line(exc)
        if failure:
            del core
            raise ArtifactError(f"{self.path}: not a readable ONNX model ({failure}); re-export it with dsl-export")
        meta = self._metadata(model)
        self.spec: ModelSpec = spec_from_metadata(meta, self.path)
        self.input_format = input_format_from_metadata(meta, self.path)
        check_io(self.path, self.spec, [p.get_any_name() for p in model.inputs],
                 [p.get_any_name() for p in model.outputs])
        element = _type_name(model.inputs[0].get_element_type())
        expected = "u8" if self.input_format == INPUT_UINT8 else "f32"
        self._fixed_batch = check_input(self.path, self.spec, self.input_format, self._dims(model.inputs[0]),
                                        element, expected)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._compiled = core.compile_model(model, DEVICE, config)
        except Exception as exc:
            raise ArtifactError(f"{self.path}: OpenVINO could not compile the model for its {DEVICE} plugin "
                                f"({first_line(exc)})") from None
        self.inference_precision = _type_name(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS"))
        # A compiled port may carry more names than the graph output (OpenVINO merges a removed Cast's names).
        self._outputs = [(name, next(p for p in self._compiled.outputs if name in p.get_names()))
                         for name in self.spec.outputs]
        self._request = self._compiled.create_infer_request()

    @property
    def device(self) -> str:
        """The OpenVINO device the model runs on."""
        return DEVICE

    def _metadata(self, model: Any) -> dict[str, str]:
        """The ONNX file's metadata_props, which OpenVINO's ONNX reader keeps under rt_info['framework']."""
        if not model.has_rt_info(["framework"]):
            return {}
        framework = model.get_rt_info(["framework"]).astype(dict)
        return {str(key): str(model.get_rt_info(["framework", key]).astype(str)) for key in framework}

    @staticmethod
    def _dims(port: Any) -> list[int | None]:
        """A port's shape, unknown dimensions as None (a dynamic rank as an empty list)."""
        shape = port.get_partial_shape()
        if not shape.rank.is_static:
            return []
        return [d.get_length() if d.is_static else None for d in shape]

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Host float32 arrays keyed 'player', 'offset', 'pif' (new arrays every call)."""
        check_runnable(self.path, self._request is not None, self._fixed_batch, batch.shape[0])
        # share_inputs: OpenVINO reads the checked batch in place (infer returns before the caller reuses it);
        # the results are copies, so the next call cannot overwrite them (reuses_outputs stays False).
        results = self._request.infer({self.spec.input.name: batch}, share_inputs=True)
        return {name: np.asarray(results[port], dtype=np.float32) for name, port in self._outputs}

    def close(self) -> None:
        """Drop the request and the compiled model (frees their memory once no other reference holds them)."""
        self._request = None
        self._compiled = None
