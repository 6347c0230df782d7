"""dsl-env: print every version and device that matters to dsl_deploy; never fails on something missing."""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from typing import Callable

from ..errors import first_line
from ..machine import cpu_model, gpus, usable_cores
from .common import cli_entry

MISSING = "not installed"


def _dist_version(*names: str) -> str | None:
    """Installed version of the first distribution found among `names`, without importing it."""
    for name in names:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return None


def _guard(fn: Callable[[], str]) -> str:
    """Run a probe; anything it raises becomes a short note instead of a crash."""
    try:
        return fn()
    except Exception as exc:  # dsl-env must report, never crash, whatever is broken
        return f"error: {type(exc).__name__}: {first_line(exc, 120) if str(exc).strip() else ''}"


def _cpu() -> str:
    return f"{cpu_model()}, {os.cpu_count()} logical cores ({usable_cores()} usable by this process)"


def _numpy() -> str:
    import numpy
    return numpy.__version__


def _opencv() -> str:
    if importlib.util.find_spec("cv2") is None:
        return MISSING
    import cv2
    return f"{cv2.__version__} (threads {cv2.getNumThreads()})"


def _onnxruntime() -> str:
    if importlib.util.find_spec("onnxruntime") is None:
        return MISSING
    import onnxruntime as ort
    return f"{ort.__version__} (providers: {', '.join(ort.get_available_providers())})"


def _openvino() -> str:
    if importlib.util.find_spec("openvino") is None:
        return f"{MISSING} (pip install 'dsl_deploy[openvino]')"
    import openvino

    from ..backends.openvino import cpu_capabilities
    return f"{openvino.__version__} (CPU capabilities: {', '.join(cpu_capabilities())})"


def _torch() -> str:
    if importlib.util.find_spec("torch") is None:
        return MISSING
    import torch
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"{torch.__version__} ({cuda}, {devices} CUDA device(s) visible, {torch.get_num_threads()} threads)"


def _plain(*dists: str) -> Callable[[], str]:
    return lambda: _dist_version(*dists) or MISSING


def _tensorrt() -> str:
    version = _dist_version("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_cu12", "tensorrt_cu13")
    if version is None and importlib.util.find_spec("tensorrt") is None:
        return MISSING
    if version is None:
        import tensorrt
        version = tensorrt.__version__
    return version


def _native() -> str:
    if importlib.util.find_spec("dsl_deploy.decode") is None or \
            importlib.util.find_spec("dsl_deploy.decode._native") is None:
        return "not built (the decoders fall back to the NumPy reference)"
    mod = importlib.import_module("dsl_deploy.decode._native")
    parts = ["importable"]
    for attr in ("__version__", "version"):
        value = getattr(mod, attr, None)
        if value is not None:
            parts.append(f"version {value() if callable(value) else value}")
            break
    for attr in ("openmp", "has_openmp", "openmp_enabled"):
        value = getattr(mod, attr, None)
        if value is not None:
            parts.append(f"OpenMP {'yes' if (value() if callable(value) else value) else 'no'}")
            break
    return ", ".join(parts)


def _cuda_library() -> str:
    spec = importlib.util.find_spec("dsl_deploy")
    folder = Path(spec.origin).parent / "decode" if spec and spec.origin else None
    libs = sorted(folder.glob("libdsl_decode_cuda*.so")) if folder and folder.is_dir() else []
    if not libs:
        return "not built (needs nvcc at install time)"
    from ..decode import cuda
    state = "usable" if cuda.is_available() else f"not usable here: {cuda.unavailable_reason()}"
    return f"{', '.join(str(p) for p in libs)} ({state})"


def _gpu() -> str:
    found = gpus()
    if found:
        return "; ".join(f"{g['name']} (sm_{g['compute_capability'].replace('.', '')}, driver {g['driver']}, "
                         f"{g['memory']})" for g in found)
    from ..errors import BackendUnavailable
    from ..tensorrt.cuda_runtime import cudart as cuda_runtime
    try:
        cudart = cuda_runtime()
    except BackendUnavailable:
        return "none found (no nvidia-smi, no cuda-python)"
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count == 0:
        return "none found (cuda-python sees no device)"
    names = []
    for i in range(count):
        err, prop = cudart.cudaGetDeviceProperties(i)
        name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        names.append(f"{name.strip(chr(0))} (sm_{prop.major}{prop.minor})")
    return "; ".join(names)


def collect() -> dict[str, str]:
    """Every line of the report, as name -> text; each probe is guarded."""
    from .. import __version__
    probes: dict[str, Callable[[], str]] = {
        "dsl_deploy": lambda: f"{__version__} ({Path(__file__).resolve().parents[1]})",
        "Python": lambda: f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform,
        "CPU": _cpu,
        "numpy": _numpy,
        "OpenCV": _opencv,
        "ONNX Runtime": _onnxruntime,
        "OpenVINO": _openvino,
        "onnx": _plain("onnx"),
        "onnxslim": _plain("onnxslim"),
        "torch": _torch,
        "torchvision": _plain("torchvision"),
        "TensorRT": _tensorrt,
        "cuda-python": _plain("cuda-python", "cuda-bindings"),
        "native decoder": _native,
        "CUDA decoder": _cuda_library,
        "GPU": _gpu,
    }
    return {name: _guard(probe) for name, probe in probes.items()}


def build_parser() -> argparse.ArgumentParser:
    """The dsl-env argument parser."""
    p = argparse.ArgumentParser(prog="dsl-env", description=__doc__,
                                epilog="Paste its output into bug reports; benchmarks record the same facts.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of aligned lines")
    return p


@cli_entry("dsl-env")
def main(argv: list[str] | None = None) -> int:
    """Entry point of dsl-env."""
    args = build_parser().parse_args(argv)
    report = collect()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        width = max(map(len, report))
        for name, text in report.items():
            print(f"{name:<{width}}  {text}")
    return 0
