"""dsl-bench --precision / --versus: an FP16 or INT8 file measured beside its FP32 original in one run.

The converted pipeline is 'ours' and the FP32 one the peer (same backend, decoder and host path), so the
table's peer/ours column is the speed-up of the precision; the agreement of the decoded results with FP32,
measured by the precision step on held-out frames, is printed beside it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..export.metadata import META_PRECISION, META_SPEC

Log = Callable[[str], None]


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (empty for other artifacts, or without the onnx package)."""
    if Path(path).suffix.lower() != ".onnx":
        return {}
    try:
        import onnx
    except ImportError:
        return {}
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - unreadable: the backend's loader names the problem when it opens the file
        return {}
    return {p.key: p.value for p in model.metadata_props}


def precision_of(path: str | Path) -> str:
    """'fp32', 'fp16' or 'int8' from an ONNX file's spec; '' when it cannot be told."""
    spec = onnx_metadata(path).get(META_SPEC)
    try:
        data = json.loads(spec) if spec else {}
    except ValueError:
        return ""
    return str(data.get("precision", "fp32")) if isinstance(data, dict) and spec else ""


def precision_record(path: str | Path) -> dict[str, Any] | None:
    """The precision step's record in an ONNX file (how it was made, its agreement with FP32), if any."""
    text = onnx_metadata(path).get(META_PRECISION)
    return json.loads(text) if text else None


def demo_converted(fp32_onnx: Path, precision: str, log: Log, seed: int = 0) -> Path:
    """The demo model in `precision` beside its FP32 file, made once (INT8: calibrated on 32 synthetic scenes)."""
    from ..export.precision import PrecisionOptions, convert_precision, default_output

    out = default_output(fp32_onnx, precision)
    if out.is_file():
        log(f"demo model: reusing {out}")
        return out
    options = PrecisionOptions(precision=precision, calib="synthetic:32" if precision == "int8" else None,
                               calib_record=out.with_suffix(".calib.json") if precision == "int8" else None,
                               seed=seed)
    partial = out.with_name(out.name + ".partial.onnx")
    convert_precision(fp32_onnx, partial, options, log=lambda m: log(f"demo model: {m}"))
    partial.replace(out)
    return out


def describe_agreement(record: dict[str, Any] | None) -> str:
    """The line printed under the table: how the measured file agrees with FP32."""
    if not record:
        return ""
    from ..export.agreement import describe

    agreement = record.get("agreement")
    if not agreement:
        return f"{record.get('precision')}: no agreement measured at export (dsl-export --check-frames 0)"
    return "agreement (measured by dsl-export): " + describe(agreement, record.get("precision", "converted"))


# The CPU features INT8 and FP16 speed depends on (uint8 x int8 dot products, BF16, AMX), for result files.
ISA_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "sve", "i8mm", "bf16")


def cpu_isa() -> dict[str, Any]:
    """CPU model name and which of ISA_FLAGS it has (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"model_name": fields.get("model name", ""), "family": fields.get("cpu family", ""),
            "model": fields.get("model", ""), "flags": [f for f in ISA_FLAGS if f in flags]}
