"""INT8 as explicit Q/DQ: calibrate activation ranges on frames, save them as a record, insert Q/DQ (no torch).

ONNX Runtime's quantisation tools do the graph work (README, "Precision"): per-channel symmetric INT8 weights,
activations per tensor. Two activation schemes, because the runtimes disagree on what is fast or possible:
'cpu' (uint8 with a zero point: ONNX Runtime and OpenVINO fold each ReLU into the quantised convolution) and
'tensorrt' (int8 with zero point 0 and FP32 biases, which TensorRT requires; ONNX Runtime runs it too, slower).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ArtifactError, BackendUnavailable, DataError, InputError
from ..runtime.outputs import write_atomic
from ..schema import Where, parse_json
from ..spec import ModelSpec
from ..tensorrt.calibration import CalibrationFeed, FrameSet

INT8_SCHEMES = ("cpu", "tensorrt")
CALIBRATION_METHODS = ("minmax", "percentile")  # minmax measured closer to FP32 (README, "Precision")
RECORD_FORMAT = "dsl_deploy.calibration"
RECORD_VERSION = 1
MAX_RECORD_BYTES = 64 << 20

Log = Callable[[str], None]


def _ort_quantization() -> Any:
    try:
        from onnxruntime import quantization
        from onnxruntime.quantization import QDQQuantizer, TensorData, TensorsData  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"INT8 needs onnxruntime's quantisation tools (onnxruntime >= 1.17 and onnx): "
                                 f"{exc}; pip install -U onnxruntime onnx") from None
    return quantization


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a FrameSet, one preprocessed frame per call."""

    def __init__(self, frames: FrameSet, spec: ModelSpec, log: Log):
        self.feed = CalibrationFeed(frames.frames, frames.count, 1, spec)
        self.batches = iter(self.feed)
        self.name, self.done, self.log, self.t0 = spec.input.name, 0, log, time.perf_counter()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        if batch is None:
            return None
        self.done += 1
        if self.done % 8 == 0 or self.done == len(self.feed):
            self.log(f"calibration: frame {self.done}/{len(self.feed)} ({time.perf_counter() - self.t0:.0f} s)")
        return {self.name: batch}

    def __len__(self) -> int:
        return len(self.feed)

    def __iter__(self):  # some versions iterate the reader instead of calling get_next
        while (item := self.get_next()) is not None:
            yield item


def calibrate(fp32_path: Path, frames: FrameSet, spec: ModelSpec, method: str = "minmax",
              log: Log = print) -> dict[str, tuple[float, float]]:
    """Activation ranges {tensor: (lowest, highest)} of the FP32 graph over the calibration frames."""
    q = _ort_quantization()
    if method not in CALIBRATION_METHODS:
        raise InputError(f"--calib-method: {method!r}; expected one of {', '.join(CALIBRATION_METHODS)}")
    kind = {"minmax": q.CalibrationMethod.MinMax, "percentile": q.CalibrationMethod.Percentile}[method]
    reader = _Reader(frames, spec, log)
    with tempfile.TemporaryDirectory(prefix="dsl-calib-") as tmp:
        calibrator = q.create_calibrator(Path(fp32_path), None, augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                         calibrate_method=kind, providers=["CPUExecutionProvider"],
                                         extra_options={"symmetric": False} if method == "percentile" else {})
        try:
            calibrator.collect_data(reader)
        except DataError:
            raise
        except Exception as exc:  # ORT's own failures while running the augmented graph
            raise ArtifactError(f"{fp32_path}: calibration failed on ONNX Runtime: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200]}") from None
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print their progress
            data = calibrator.compute_data()
    ranges = {}
    for name in data:
        lo, hi = data[name].range_value
        ranges[name] = (float(np.asarray(lo).min()), float(np.asarray(hi).max()))
    bad = [n for n, (lo, hi) in ranges.items() if not (math.isfinite(lo) and math.isfinite(hi))]
    if bad:
        raise ArtifactError(f"{fp32_path}: calibration gave non-finite ranges for {len(bad)} tensor(s) "
                            f"(first: {bad[0]}); the network produces NaN or inf on the calibration frames")
    return ranges


def save_record(path: Path, ranges: dict[str, tuple[float, float]], *, model_sha256: str, method: str,
                source: dict[str, Any]) -> None:
    """Write the calibration record (JSON, atomic): the ranges, the method, the frames and the FP32 graph's hash."""
    doc = {"format": RECORD_FORMAT, "format_version": RECORD_VERSION, "method": method,
           "model_sha256": model_sha256, "source": source,
           "ranges": {k: [lo, hi] for k, (lo, hi) in sorted(ranges.items())}}
    write_atomic(path, json.dumps(doc, indent=1).encode())


def load_record(path: Path, *, model_sha256: str, method: str) -> dict[str, Any]:
    """Read a calibration record made for this FP32 graph and method; ArtifactError naming what differs."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read the calibration record ({exc.strerror})") from None
    doc = parse_json(text, source=str(path), error=ArtifactError, what="calibration record",
                     max_bytes=MAX_RECORD_BYTES)
    where = Where(str(path), ArtifactError)
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        raise ArtifactError(f"{path}: not a dsl_deploy calibration record (format {RECORD_FORMAT!r} expected)")
    where.integer(doc.get("format_version"), "format_version", 1, RECORD_VERSION)
    if doc.get("model_sha256") != model_sha256:
        raise ArtifactError(f"{path}: this calibration record was made for another FP32 graph (sha256 "
                            f"{str(doc.get('model_sha256'))[:12]}..., this one {model_sha256[:12]}...); delete it "
                            "to calibrate again, or give another --calib-record")
    if doc.get("method") != method:
        raise ArtifactError(f"{path}: calibration record made with --calib-method {doc.get('method')}, not "
                            f"{method}; give that method or another --calib-record")
    ranges = doc.get("ranges")
    if not isinstance(ranges, dict) or not ranges:
        raise ArtifactError(f"{path}: field 'ranges' is missing or empty")
    for name, value in ranges.items():
        pair = where.numbers(value, f"ranges.{name}", -3.4e38, 3.4e38, count=2)
        if pair[0] > pair[1]:
            raise ArtifactError(f"{path}: field 'ranges.{name}' is {value}; expected [lowest, highest]")
    doc["ranges"] = {k: (float(v[0]), float(v[1])) for k, v in ranges.items()}
    return doc


def quantize(fp32_path: Path, ranges: dict[str, tuple[float, float]], *, scheme: str,
             exclude: list[str]) -> Any:
    """The Q/DQ ModelProto of the FP32 graph: per-channel INT8 weights, activations by `scheme`."""
    q = _ort_quantization()
    from onnxruntime.quantization.quant_utils import load_model_with_shape_infer
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    if scheme not in INT8_SCHEMES:
        raise InputError(f"--int8-scheme: {scheme!r}; expected one of {', '.join(INT8_SCHEMES)}")
    data = q.TensorsData(q.CalibrationMethod.MinMax, {
        name: q.TensorData(lowest=np.array(lo, dtype=np.float32), highest=np.array(hi, dtype=np.float32))
        for name, (lo, hi) in ranges.items()})
    symmetric = scheme == "tensorrt"
    extra = {"WeightSymmetric": True, "ActivationSymmetric": symmetric,
             # TensorRT takes FP32 biases (it fuses them itself) and no INT32 DequantizeLinear.
             "QuantizeBias": not symmetric}
    model = load_model_with_shape_infer(Path(fp32_path))
    original = copy.deepcopy(model)
    act = q.QuantType.QInt8 if symmetric else q.QuantType.QUInt8
    op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))  # quantize_static's default: every op it can
    quantizer = q.QDQQuantizer(model, True, False, q.QuantType.QInt8, act, data, [], list(exclude), op_types, extra)
    quantizer.quantize_model()
    from .graph import restore_activations, unquantize_inputs

    model = quantizer.model.model
    unquantize_inputs(model, original, exclude)
    restore_activations(model, original, exclude)  # the heads' raw outputs stay FP32 into the tail
    return model
