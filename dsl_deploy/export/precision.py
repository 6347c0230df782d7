"""The precision step: an FP32 dsl_deploy ONNX file -> FP16 or INT8 (Q/DQ), measured against FP32 (no torch).

Precision lives in the graph (strongly typed): FP16 as half-precision initialisers and values with Casts at the
FP32 boundaries, INT8 as QuantizeLinear/DequantizeLinear pairs with per-channel weight scales. The inputs, the
outputs and the heads' output tail (sigmoids, exp of b and sigma, cell offsets, the resize to full resolution)
stay FP32 in both. The file's spec says the precision; `dsl_deploy.precision` says how it was made and how
closely its decoded results agree with FP32 on frames that calibration did not see.
"""
from __future__ import annotations

import copy
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..errors import ArtifactError, InputError
from ..runtime.outputs import publish
from ..spec import PRECISIONS, ModelSpec
from . import graph
from .agreement import compare_models, describe
from .metadata import META_PRECISION, META_SPEC, META_VERSION, read_metadata, write_metadata

Log = Callable[[str], None]


@dataclass(frozen=True)
class PrecisionOptions:
    """How to convert: the precision, and for INT8 the calibration frames, method, record and scheme."""

    precision: str = "fp32"
    calib: str | None = None  # a folder of frames, a video or synthetic:N
    calib_count: int = 32  # frames the activation ranges are measured on
    calib_method: str = "minmax"
    calib_record: Path | None = None  # reused when it matches the FP32 graph; written otherwise
    int8_scheme: str = "cpu"  # 'cpu' (uint8 activations) or 'tensorrt' (int8, zero point 0)
    keep_fp32: tuple[str, ...] = ()  # node-name patterns (fnmatch) kept FP32 besides I/O and the output tail
    check_frames: int = 8  # held-out frames of the agreement check (0: no check)
    seed: int = 0
    threads: int | None = None


def check_options(options: PrecisionOptions) -> None:
    """InputError naming the option that is out of place, before any work."""
    from .int8 import CALIBRATION_METHODS, INT8_SCHEMES

    if options.precision not in PRECISIONS:
        raise InputError(f"--precision: {options.precision!r}; expected one of {', '.join(PRECISIONS)}")
    if options.calib_count < 1:
        raise InputError(f"--calib-count: expected a positive number of frames, got {options.calib_count}")
    if options.check_frames < 0:
        raise InputError(f"--check-frames: expected 0 or more, got {options.check_frames}")
    if options.calib_method not in CALIBRATION_METHODS:
        raise InputError(f"--calib-method: {options.calib_method!r}; expected one of {', '.join(CALIBRATION_METHODS)}")
    if options.int8_scheme not in INT8_SCHEMES:
        raise InputError(f"--int8-scheme: {options.int8_scheme!r}; expected one of {', '.join(INT8_SCHEMES)}")
    if options.precision == "int8" and not options.calib and not (options.calib_record and
                                                                   options.calib_record.is_file()):
        raise InputError("--precision int8: give --calib SRC (a folder of frames from the camera, a video, or "
                         "synthetic:N) or an existing --calib-record")


def graph_digest(model: Any) -> str:
    """SHA-256 of the graph alone (nodes, weights, I/O; not the metadata), naming the FP32 network of a record."""
    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()


def read_spec(model: Any, source: str) -> ModelSpec:
    """The dsl_deploy spec in an ONNX file's metadata; ArtifactError when there is none."""
    meta = read_metadata(model)
    if META_SPEC not in meta:
        raise ArtifactError(f"{source}: the ONNX file has no '{META_SPEC}' metadata; export it with dsl-export")
    return ModelSpec.from_json(meta[META_SPEC], source=f"{source} metadata")


def convert_precision(source: str | Path, output: str | Path, options: PrecisionOptions,
                      log: Log = print) -> dict[str, Any]:
    """Write `output`: the FP32 ONNX file `source` in options.precision; returns the precision record."""
    import onnx

    check_options(options)
    source, output = Path(source), Path(output)
    try:
        model = onnx.load(str(source))
    except Exception as exc:
        raise ArtifactError(f"{source}: not a readable ONNX file ({str(exc).splitlines()[0][:160]})") from None
    spec = read_spec(model, str(source))
    if spec.precision != "fp32":
        raise ArtifactError(f"{source}: is already {spec.precision}; convert from the FP32 file (dsl-export "
                            "without --precision, or the checkpoint)")
    if options.precision == "fp32":
        raise InputError("--precision fp32: the FP32 file is what dsl-export writes without --precision")
    graph.ensure_node_names(model)
    tail = graph.output_tail(model)
    kept = graph.matching(model, options.keep_fp32)
    if options.keep_fp32:
        log(f"{options.precision}: {len(kept)} node(s) kept FP32 by --keep-fp32 {' '.join(options.keep_fp32)}")
    tail = sorted(set(tail) | set(kept))
    record: dict[str, Any] = {"precision": options.precision, "dsl_deploy_version": __version__,
                              "kept_fp32": {"io": True, "nodes": len(tail), "patterns": list(options.keep_fp32),
                                            "output_tail_ops": sorted({n.op_type for n in model.graph.node
                                                                       if n.name in set(tail)})}}
    folder = output.parent if str(output.parent) else Path(".")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".dsl-precision-") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        onnx.save(model, str(fp32_path))
        t0 = time.perf_counter()
        if options.precision == "fp16":
            from .fp16 import to_fp16

            converted = to_fp16(copy.deepcopy(model), tail)
            record["tool"] = _tool("onnxruntime.transformers.float16")
            held = None
        else:
            converted, held = _int8(fp32_path, model, spec, tail, options, record, log)
        graph.topological_sort(converted)  # the converters append what they add at the end of the node list
        log(f"{options.precision}: converted in {time.perf_counter() - t0:.1f} s "
            f"({_describe_graph(converted)})")
        out_spec = replace(spec, precision=options.precision)
        write_metadata(converted, {META_SPEC: out_spec.to_json(), META_VERSION: __version__})
        converted.producer_name, converted.producer_version = "dsl_deploy", __version__
        try:
            onnx.checker.check_model(converted)
        except Exception as exc:
            raise ArtifactError(f"{output}: the {options.precision} graph fails onnx.checker: "
                                f"{str(exc).splitlines()[0][:200]}") from None
        work = Path(tmp) / "converted.onnx"
        onnx.save(converted, str(work))
        if options.check_frames:
            record["agreement"] = _agreement(fp32_path, work, spec, options, held, log)
        write_metadata(converted, {META_PRECISION: json.dumps(record, sort_keys=True, separators=(",", ":"))})
        onnx.save(converted, str(work))
        publish(work, output)
    return record


def _int8(fp32_path: Path, model: Any, spec: ModelSpec, tail: list[str], options: PrecisionOptions,
          record: dict[str, Any], log: Log) -> tuple[Any, Any]:
    """(Q/DQ model, held-out frames or None): calibrate (or reuse the record) and quantise."""
    from ..tensorrt.calibration import calibration_sets
    from .int8 import calibrate, load_record, quantize, save_record

    digest = graph_digest(model)
    held = None
    record_path = options.calib_record
    if record_path is not None and record_path.is_file():
        doc = load_record(record_path, model_sha256=digest, method=options.calib_method)
        ranges, source = doc["ranges"], doc["source"]
        log(f"int8: reusing the calibration record {record_path} ({len(ranges)} tensors, {source.get('count')} "
            f"{source.get('source')} frames)")
        if options.calib:
            _, held = calibration_sets(options.calib, spec, options.calib_count, options.check_frames,
                                       options.seed)
    else:
        calib, held = calibration_sets(str(options.calib), spec, options.calib_count, options.check_frames,
                                       options.seed)
        source = calib.summary
        log(f"int8: calibrating activation ranges ({options.calib_method}) on {calib.count} {source['source']} "
            f"frame(s) at {spec.input.width}x{spec.input.height}")
        ranges = calibrate(fp32_path, calib, spec, options.calib_method, log)
        if record_path is not None:
            save_record(record_path, ranges, model_sha256=digest, method=options.calib_method, source=source)
            log(f"int8: calibration record {record_path} (reused by the next run on this FP32 graph)")
    converted = quantize(fp32_path, ranges, scheme=options.int8_scheme, exclude=tail)
    activations = "int8, zero point 0 (symmetric)" if options.int8_scheme == "tensorrt" else \
        "uint8 with zero points (asymmetric)"
    record["tool"] = _tool("onnxruntime.quantization (QDQ)")
    record["int8"] = {"scheme": options.int8_scheme, "weights": "int8 per output channel, symmetric",
                      "activations": f"{activations}, per tensor", "biases": "fp32" if options.int8_scheme ==
                      "tensorrt" else "int32", "calibration_method": options.calib_method,
                      "calibration": source, "record": str(record_path) if record_path else None,
                      "fp32_graph_sha256": digest,
                      "quantized_ops": {k: len(v) for k, v in sorted(graph.quantized_inputs(converted).items())}}
    return converted, held


def _agreement(fp32_path: Path, converted_path: Path, spec: ModelSpec, options: PrecisionOptions,
               held: Any, log: Log) -> dict[str, Any]:
    """Decoded agreement with FP32 on held-out frames (other scenes than calibration's)."""
    from ..tensorrt.calibration import CalibrationFeed, FrameSet, synthetic_frames

    if held is None:
        n = options.check_frames
        held = FrameSet(synthetic_frames(options.seed + 1, spec.input.width, spec.input.height), n,
                        {"source": "synthetic", "seed": options.seed + 1, "count": n})
    t0 = time.perf_counter()
    feed = CalibrationFeed(held.frames, held.count, 1, spec)
    summary = compare_models(fp32_path, converted_path, iter(feed), spec, options.threads)
    summary["frames_source"] = held.summary
    log(describe(summary, options.precision) + f" ({time.perf_counter() - t0:.0f} s)")
    return summary


def _tool(name: str) -> str:
    import onnxruntime

    return f"{name}, onnxruntime {onnxruntime.__version__}"


def _describe_graph(model: Any) -> str:
    counts = graph.op_counts(model)
    q, dq, casts = counts.get("QuantizeLinear", 0), counts.get("DequantizeLinear", 0), counts.get("Cast", 0)
    if q or dq:
        return f"{q} QuantizeLinear, {dq} DequantizeLinear"
    return f"{casts} Cast nodes at the FP32/FP16 boundaries"


def default_output(source: Path, precision: str) -> Path:
    """model.pth / model.onnx -> model.int8.onnx (the precision in the name)."""
    stem = source.name[: -len(source.suffix)] if source.suffix else source.name
    return source.with_name(f"{stem}.{precision}.onnx")
