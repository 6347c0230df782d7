"""Check an ONNX file before building: it exists, is ONNX, and carries the dsl_deploy spec and I/O contract."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends.onnx_file import input_format_from_metadata
from ..errors import ArtifactError
from ..export.metadata import INPUT_FLOAT, INPUT_UINT8
from ..spec import ModelSpec
from .sidecar import sha256_file

SPEC_KEY = "dsl_deploy.spec"


@dataclass(frozen=True)
class OnnxInfo:
    """What the builder needs to know about an exported model."""

    path: Path
    spec: ModelSpec
    input_name: str
    input_shape: tuple  # (B, 3, H, W), or (B, H, W, 3) for uint8 frames; B is a str or -1 when dynamic
    outputs: tuple[str, ...]
    sha256: str
    input_format: str = INPUT_FLOAT  # INPUT_UINT8: a dsl-export --uint8-input file (normalises in its graph)

    def input_dims(self, batch: int, width: int, height: int) -> tuple[int, int, int, int]:
        """The input's shape for `batch` frames of width x height, in this file's layout."""
        return (batch, height, width, 3) if self.input_format == INPUT_UINT8 else (batch, 3, height, width)


def inspect_onnx(path: str | Path) -> OnnxInfo:
    """Read the graph's metadata and I/O; ArtifactError/SpecError naming the file and the problem."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file (export one with: dsl-export model.pth)")
    if not p.is_file():
        raise ArtifactError(f"{p}: not a file")
    meta, inputs, outputs = _read_graph(p)
    if SPEC_KEY not in meta:
        raise ArtifactError(f"{p}: the ONNX model has no '{SPEC_KEY}' metadata; it was not exported by dsl-export "
                            "(re-export with: dsl-export model.pth)")
    spec = ModelSpec.from_json(meta[SPEC_KEY], source=f"{p} metadata '{SPEC_KEY}'")
    name = spec.input.name
    if name not in inputs:
        raise ArtifactError(f"{p}: expected an input named '{name}', found {sorted(inputs)}")
    shape = inputs[name]
    h, w = spec.input.height, spec.input.width
    fmt = input_format_from_metadata(meta, p)
    expected = (h, w, 3) if fmt == INPUT_UINT8 else (3, h, w)
    if len(shape) != 4 or tuple(shape[1:]) != expected:
        dims = ", ".join(map(str, expected))
        raise ArtifactError(f"{p}: input '{name}' has shape {list(shape)}; expected [B, {dims}] (from its spec"
                            f"{', uint8 frames' if fmt == INPUT_UINT8 else ''})")
    missing = [o for o in spec.outputs if o not in outputs]
    if missing:
        raise ArtifactError(f"{p}: output(s) {missing} missing; found {list(outputs)}, expected {list(spec.outputs)}")
    return OnnxInfo(p, spec, name, tuple(shape), tuple(outputs), sha256_file(p), fmt)


def _read_graph(p: Path) -> tuple[dict[str, str], dict[str, tuple], list[str]]:
    """(metadata, {input: shape}, output names), via the onnx package, else ONNX Runtime."""
    try:
        import onnx
    except ImportError:
        return _read_with_onnxruntime(p)
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf raises several types on garbage
        raise ArtifactError(f"{p}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node and not model.graph.output:
        raise ArtifactError(f"{p}: not an ONNX model (empty graph)")
    meta = {m.key: m.value for m in model.metadata_props}
    initialisers = {t.name for t in model.graph.initializer}
    inputs = {}
    for vi in model.graph.input:
        if vi.name in initialisers:
            continue
        dims = vi.type.tensor_type.shape.dim
        inputs[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or -1) for d in dims)
    return meta, inputs, [o.name for o in model.graph.output]


def _read_with_onnxruntime(p: Path) -> tuple[dict[str, str], dict[str, tuple], list[str]]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{p}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    inputs = {i.name: tuple(d if isinstance(d, int) else (d or -1) for d in i.shape) for i in sess.get_inputs()}
    return meta, inputs, [o.name for o in sess.get_outputs()]
