"""What a benchmark ran on: CPU, cores, memory, GPU and library versions (without importing torch)."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

# Distribution names whose versions every result records; absent ones are reported as None.
LIBRARIES = ("dsl_deploy", "numpy", "opencv-python-headless", "onnxruntime", "onnxruntime-gpu", "onnx", "openvino",
             "torch", "torchvision", "tensorrt", "cuda-python")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def memory_total_mb() -> float | None:
    """Physical memory in MB, when the OS says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[dict[str, str]]:
    """Name, driver and memory of each NVIDIA GPU that nvidia-smi lists (empty without one)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total,compute_cap",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4:
            rows.append({"name": parts[0], "driver": parts[1], "memory": parts[2], "compute_capability": parts[3]})
    return rows


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that matter, read from package metadata (nothing imported)."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict[str, object]:
    """Everything a result file records about where it was measured."""
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "memory_mb": memory_total_mb(),
        "gpus": gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": library_versions(),
    }


def machine_slug(info: dict[str, object] | None = None) -> str:
    """Short file-name-safe label of the machine: the first GPU's name, else the CPU's, with the core count."""
    info = info or machine_info()
    gpu_list: Any = info.get("gpus") or []
    name = gpu_list[0]["name"] if gpu_list else f"{info['cpu']}-{info['cores']}c"
    keep = "".join(c.lower() if c.isalnum() else "-" for c in str(name))
    return "-".join(p for p in keep.split("-") if p)[:60]
