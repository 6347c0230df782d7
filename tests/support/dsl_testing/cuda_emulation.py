"""The CUDA decoder's kernels built for the CPU (csrc/cuda/emulate.h), so its device-pointer path runs without a GPU:
in the emulation a "device pointer" is a host address."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


def build_emulated_library(out_dir: Path) -> Path | None:
    """The kernel sources compiled with g++ -DDSL_CUDA_EMULATE into out_dir; None without a C++ compiler."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        return None
    out = out_dir / "libdsl_decode_cuda_emu.so"
    sources = sorted((ROOT / "csrc" / "cuda").glob("*.cu"))
    cmd = [cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-x", "c++", "-DDSL_CUDA_EMULATE", "-fPIC",
           "-shared", "-I", str(ROOT / "csrc" / "include"), "-I", str(ROOT / "csrc" / "cuda"),
           *map(str, sources), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the emulated CUDA decoder did not build:\n{proc.stderr[-3000:]}")
    return out


def emulated_library_or_skip(tmp_path_factory: Any) -> str:
    """For a module-scoped fixture: the emulated library built once in a temporary folder, or the test skipped."""
    import pytest

    out = build_emulated_library(tmp_path_factory.mktemp("emu"))
    if out is None:
        pytest.skip("no C++ compiler for the CPU emulation of the CUDA kernels")
    return str(out)


class _DeviceOutputs(ctypes.Structure):  # dsl_cuda_device_outputs of dsl_decode_cuda.h
    _fields_ = [(n, ctypes.c_void_p) for n in ("labels", "fused", "keypoints", "scores", "boxes", "areas", "centers")]


class DeviceArena:
    """Emulated device memory for a stand-in engine's output buffers: the fused-map scratch of a CUDA decoder that
    never decodes (the emulated library registered it as device memory), handed out as float32 arrays."""

    def __init__(self, spec: Any) -> None:
        from dsl_deploy.decode import cuda

        self._holder = cuda.CudaDecoder(spec)
        outs = _DeviceOutputs()
        status = self._holder._lib.dsl_cuda_device_outputs_get(self._holder._handle, ctypes.byref(outs))
        assert status == 0, status
        self._base, self._used = int(outs.fused), 0
        self._capacity = 19 * spec.input.height * spec.input.width  # floats of the fused maps

    def array(self, shape: tuple[int, ...]) -> np.ndarray:
        """A new float32 array of `shape` in emulated device memory."""
        n = int(np.prod(shape))
        assert self._used + n <= self._capacity, "the arena is full"
        buf = (ctypes.c_float * n).from_address(self._base + 4 * self._used)
        self._used += n
        return np.ctypeslib.as_array(buf).reshape(shape)
