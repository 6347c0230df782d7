"""ONNX export of the ready-fields wrapper: named I/O, dynamic batch, spec in the metadata, checked."""
from __future__ import annotations

import io
import tempfile
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .. import __version__
from ..errors import ArtifactError, DslError, SpecError, first_line
from ..runtime.outputs import publish
from ..spec import ModelSpec
from .metadata import META_FORMAT_VERSION, META_SPEC, META_VERSION, ONNX_FORMAT_VERSION
from .parity import compare_outputs, onnxruntime_outputs, torch_ready_outputs
from .ready import ReadyFields
from .sample import sample_batch

EXPORTERS = ("auto", "torchscript", "dynamo")

Log = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


def _check_spec(model: nn.Module, spec: ModelSpec) -> None:
    """The export spec may change the input size only; everything else must be the model's own spec."""
    own = getattr(model, "spec", None)
    if not isinstance(own, ModelSpec):
        raise SpecError("export: the model has no .spec (build it with dsl_deploy.model.build_model)")
    if own.with_input_size(spec.input.width, spec.input.height) != spec:
        raise SpecError(f"export: the spec differs from the model's beyond the input size (model backbone "
                        f"{own.backbone}, seg_stride {own.seg_stride}; spec backbone {spec.backbone}, "
                        f"seg_stride {spec.seg_stride})")
    spec.validate(source="export spec")


def _torchscript_available() -> bool:
    try:
        from torch.onnx._internal.torchscript_exporter import utils  # noqa: F401
    except ImportError:
        return False
    return True


def _run_exporter(wrapper: nn.Module, dummy: torch.Tensor, out: Path, spec: ModelSpec, opset: int,
                  dynamic_batch: bool, exporter: str) -> str:
    """Write the raw exported graph to `out`; returns the exporter used."""
    names, image = list(spec.outputs), spec.input.name
    if exporter not in EXPORTERS:
        raise SpecError(f"export: unknown exporter {exporter!r}; expected one of {', '.join(EXPORTERS)}")
    if exporter == "auto":
        exporter = "torchscript" if _torchscript_available() else "dynamo"
    # The exporters are chatty (deprecation, tracer and optimiser notes); the checks below say what matters.
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            axes = {n: {0: "batch"} for n in [image, *names]} if dynamic_batch else None
            torch.onnx.export(wrapper, (dummy,), str(out), dynamo=False, input_names=[image],
                              output_names=names, opset_version=opset, dynamic_axes=axes,
                              do_constant_folding=True)
        elif exporter == "dynamo":
            opset = max(opset, 18)  # the dynamo exporter has no implementations below 18
            # dynamic_shapes is keyed by the forward argument's name, which is `image` in ReadyFields.
            shapes = {"image": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
            program = torch.onnx.export(wrapper, (dummy,), dynamo=True, input_names=[image], output_names=names,
                                        opset_version=opset, dynamic_shapes=shapes, optimize=True)
            program.save(str(out), external_data=False)  # type: ignore[union-attr]  # dynamo=True returns one
    return exporter


def _simplified(proto, log: Log):
    """onnxslim's version of the graph, or None (and say why) when it is missing or fails."""
    try:
        import onnxslim
    except ImportError:
        log("simplify: onnxslim is not installed; keeping the graph as exported")
        return None
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            slim = onnxslim.slim(proto)
    except Exception as exc:  # a simplifier bug must not cost the export: fall back, and say so
        log(f"simplify: onnxslim failed ({type(exc).__name__}: {first_line(exc, 120)}); "
            "keeping the unsimplified graph")
        return None
    log(f"simplify: onnxslim {len(proto.graph.node)} -> {len(slim.graph.node)} nodes")
    return slim


def export_onnx(model: nn.Module, spec: ModelSpec, path: str | Path, *, opset: int = 17, simplify: bool = True,
                dynamic_batch: bool = True, exporter: str = "auto", parity_atol: float | None = 1e-3,
                log: Log | None = None) -> Path:
    """Export `model` (raw outputs) as ready fields to `path`, spec in the metadata, checked; atomic write.

    With `parity_atol`, ONNX Runtime must match torch within it on a synthetic frame (ArtifactError
    otherwise); a simplified graph that fails is replaced by the unsimplified one, and the log says so.
    """
    import onnx

    log = log or _quiet
    path = Path(path)
    _check_spec(model, spec)
    if not 11 <= opset <= 21:
        raise SpecError(f"--opset: {opset} is not supported; expected 11..21 (default 17)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ArtifactError(f"{path}: the output folder {folder} does not exist")
    was_training = model.training
    model.eval()
    wrapper = ReadyFields(model).eval()
    batch = sample_batch(spec, 1)
    # The dynamo exporter specialises a batch of 1, so it traces with 2 when the batch axis is dynamic.
    dummy = sample_batch(spec, 2) if exporter == "dynamo" and dynamic_batch else batch
    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".dsl-export-") as tmp:
            raw_path = Path(tmp) / "raw.onnx"
            t0 = time.perf_counter()
            try:
                with torch.no_grad():
                    used = _run_exporter(wrapper, torch.from_numpy(dummy), raw_path, spec, opset, dynamic_batch,
                                         exporter)
            except DslError:
                raise
            except Exception as exc:  # exporter internals raise anything; the user needs one line and a way out
                raise ArtifactError(f"{path}: torch.onnx.export ({exporter} exporter, opset {opset}) failed: "
                                    f"{type(exc).__name__}: {first_line(exc)}; try another --opset or "
                                    "--exporter") from None
            proto = onnx.load(str(raw_path))
            real_opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=opset)
            log(f"export: {used} exporter, opset {real_opset}, {len(proto.graph.node)} nodes "
                f"({time.perf_counter() - t0:.1f}s)")
            candidates = [("simplified", _simplified(proto, log))] if simplify else []
            candidates = [(name, p) for name, p in candidates if p is not None] + [("unsimplified", proto)]
            reference = torch_ready_outputs(wrapper, batch) if parity_atol is not None else None
            final = Path(tmp) / "model.onnx"
            for i, (name, candidate) in enumerate(candidates):
                last = i == len(candidates) - 1
                try:
                    _finish(candidate, spec, dynamic_batch, path)
                except ArtifactError as exc:
                    if last:
                        raise
                    log(f"simplify: the {name} graph fails the checks ({str(exc).split(': ', 1)[-1]}); "
                        "falling back to the unsimplified graph")
                    continue
                onnx.save(candidate, str(final))
                if reference is None:
                    break
                _, failed = compare_outputs(reference, onnxruntime_outputs(final, batch),
                                            parity_atol,  # type: ignore[arg-type]  # set when reference is
                                            str(path), log)
                if not failed:
                    log(f"parity ok: ONNX Runtime matches torch within {parity_atol:g} ({name} graph)")
                    break
                if last:
                    raise ArtifactError(f"{path}: ONNX Runtime differs from torch beyond atol {parity_atol:g} "
                                        f"({', '.join(failed)}) on the {name} graph; check the opset or "
                                        "the exporter (--exporter)")
                log(f"simplify: the {name} graph fails parity; falling back to the unsimplified graph")
            publish(final, path)
    finally:
        model.train(was_training)
    return path


def _finish(proto, spec: ModelSpec, dynamic_batch: bool, path: Path) -> None:
    """Metadata, declared output shapes, onnx.checker and the I/O contract, on a graph about to be saved."""
    import onnx

    _set_metadata(proto, spec)
    _declare_output_shapes(proto, spec, dynamic_batch)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ArtifactError(f"{path}: the exported graph fails onnx.checker: {first_line(exc)}") from None
    _check_io(proto, spec, dynamic_batch, path)


def _set_metadata(proto, spec: ModelSpec) -> None:
    """Write the spec and versions into metadata_props, replacing any earlier values."""
    values = {META_SPEC: spec.to_json(), META_VERSION: __version__, META_FORMAT_VERSION: str(ONNX_FORMAT_VERSION)}
    keep = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "dsl_deploy", __version__


def _declare_output_shapes(proto, spec: ModelSpec, dynamic_batch: bool) -> None:
    """Write the contract's output shapes into the graph (the tracer leaves symbolic names there).

    The declared shapes are then verified against what ONNX Runtime actually returns by the parity check.
    """
    for out in proto.graph.output:
        shape = spec.output_shapes("batch" if dynamic_batch else 0)[out.name]
        dims = out.type.tensor_type.shape.dim
        del dims[:]
        for i, size in enumerate(shape):
            d = dims.add()
            if i == 0 and dynamic_batch:
                d.dim_param = "batch"
            else:
                d.dim_value = 1 if i == 0 else int(size)


def _check_io(proto, spec: ModelSpec, dynamic_batch: bool, path: Path) -> None:
    """The graph's inputs and outputs must be exactly the contract's names and shapes."""
    def dims(value) -> list:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    h, w = spec.input.height, spec.input.width
    if [i.name for i in inputs] != [spec.input.name] or dims(inputs[0])[1:] != [3, h, w]:
        raise ArtifactError(f"{path}: exported inputs {[(i.name, dims(i)) for i in inputs]}; expected "
                            f"{spec.input.name} [B,3,{h},{w}]")
    expected = spec.output_shapes()
    got = {o.name: dims(o) for o in proto.graph.output}
    if list(got) != list(expected):
        raise ArtifactError(f"{path}: exported outputs {list(got)}; expected {list(expected)}")
    for name, shape in expected.items():
        if got[name][1:] != list(shape[1:]) or (dynamic_batch and isinstance(got[name][0], int)):
            raise ArtifactError(f"{path}: output {name} has shape {got[name]}; expected {list(shape)}")
