"""Memory of the running process: peak and current resident set size, in MB."""
from __future__ import annotations

import resource
import sys


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process since it started, in MB (VmHWM, or getrusage)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kb = raw // 1024 if sys.platform == "darwin" else raw  # macOS reports bytes, Linux KiB
    return kb / 1024.0


def current_rss_mb() -> float | None:
    """Current resident set size of this process in MB, or None where the kernel does not report it."""
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb / 1024.0
    try:  # some sandboxed kernels leave VmRSS out of /proc/self/status but keep statm
        with open("/proc/self/statm", encoding="ascii") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        # The peak is no stand-in: it would hide any growth below it.
        return None


def gpu_used_mb(device: int = 0) -> float | None:
    """Device memory in use on `device` as the CUDA runtime reports it (whole device), or None without CUDA."""
    try:
        from ..tensorrt.cuda_runtime import cudart

        rt = cudart()
        err, = rt.cudaSetDevice(device)
        if int(err) != 0:
            return None
        err, free, total = rt.cudaMemGetInfo()
    except Exception:  # no cuda-python, no driver, no device: nothing to report
        return None
    return None if int(err) != 0 else (total - free) / 2**20


def runs_on_gpu(backend: object) -> bool:
    """Whether a backend's work lands on a CUDA device (TensorRT, or an ONNX Runtime CUDA/TensorRT provider)."""
    if getattr(backend, "name", "") == "tensorrt":
        return True
    providers = getattr(backend, "providers", None) or []
    return any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for p in providers)
