"""Thin cuda-python (cudart) helpers: device info, pinned host and device buffers, streams, events, graphs."""
from __future__ import annotations

import ctypes
import importlib
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, DslError
from .sidecar import GpuInfo


class CudaError(DslError):
    """A CUDA runtime call failed after the device was opened."""


def cudart() -> ModuleType:
    """The cuda-python runtime module (cuda.bindings.runtime, or cuda.cudart before 12.6)."""
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise BackendUnavailable("cuda-python is not installed; pip install cuda-python (the TensorRT backend uses it "
                             "for device buffers and streams)")


def check(result: Any, what: str) -> Any:
    """Unpack a cudart (err, *values) tuple; raise CudaError naming the call on failure."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        rt = cudart()
        _, text = rt.cudaGetErrorString(err)
        raise CudaError(f"CUDA {what} failed: {getattr(err, 'name', err)} ({_text(text)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, (bytes, bytearray)) else str(value)


def open_device(device: int = 0) -> GpuInfo:
    """Select a device and describe it; BackendUnavailable when there is no driver or no such device."""
    rt = cudart()
    err, count = rt.cudaGetDeviceCount()
    if int(err) != 0 or count == 0:
        reason = getattr(err, "name", str(err)) if int(err) != 0 else "no CUDA device"
        raise BackendUnavailable(f"no usable CUDA device ({reason}); the TensorRT backend needs an NVIDIA GPU "
                                 "and driver")
    if not 0 <= device < count:
        raise BackendUnavailable(f"CUDA device {device} does not exist (this machine has {count}: 0..{count - 1})")
    check(rt.cudaSetDevice(device), f"cudaSetDevice({device})")
    prop = check(rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = _text(prop.name).split("\x00", 1)[0].strip()
    return GpuInfo(name=name, compute_capability=f"{prop.major}.{prop.minor}")


class Stream:
    """A CUDA stream; `handle` is the integer TensorRT wants."""

    def __init__(self) -> None:
        rt = cudart()
        self._rt = rt
        self.stream = check(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking), "cudaStreamCreate")
        self.handle = int(self.stream)

    def synchronize(self) -> None:
        """Wait for all work on the stream."""
        check(self._rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def close(self) -> None:
        """Destroy the stream."""
        if self.stream is not None:
            self._rt.cudaStreamDestroy(self.stream)
            self.stream = None


class Event:
    """A timing event."""

    def __init__(self) -> None:
        self._rt = cudart()
        self.event = check(self._rt.cudaEventCreate(), "cudaEventCreate")

    def record(self, stream: Stream) -> None:
        """Record on a stream."""
        check(self._rt.cudaEventRecord(self.event, stream.stream), "cudaEventRecord")

    def ms_since(self, start: "Event") -> float:
        """Milliseconds between `start` and this event (both recorded and completed)."""
        return float(check(self._rt.cudaEventElapsedTime(start.event, self.event), "cudaEventElapsedTime"))

    def close(self) -> None:
        """Destroy the event."""
        if self.event is not None:
            self._rt.cudaEventDestroy(self.event)
            self.event = None


class DeviceBuffer:
    """Device memory of a fixed size."""

    def __init__(self, nbytes: int) -> None:
        self._rt = cudart()
        self.nbytes = int(nbytes)
        self.ptr = int(check(self._rt.cudaMalloc(max(1, self.nbytes)), f"cudaMalloc({self.nbytes})"))

    def close(self) -> None:
        """Free the memory."""
        if self.ptr:
            self._rt.cudaFree(self.ptr)
            self.ptr = 0


class PinnedBuffer:
    """Page-locked host memory viewed as a numpy array, for truly asynchronous copies."""

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self._rt = cudart()
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * self.dtype.itemsize
        self.ptr = int(check(self._rt.cudaMallocHost(max(1, self.nbytes)), f"cudaMallocHost({self.nbytes})"))
        raw = (ctypes.c_byte * max(1, self.nbytes)).from_address(self.ptr)
        self.array = np.frombuffer(raw, dtype=self.dtype, count=int(np.prod(shape))).reshape(shape)

    def view(self, shape: tuple[int, ...]) -> np.ndarray:
        """The first prod(shape) elements as an array of that shape."""
        return self.array.reshape(-1)[: int(np.prod(shape))].reshape(shape)

    def close(self) -> None:
        """Free the memory (views become invalid)."""
        if self.ptr:
            self.array = None  # type: ignore[assignment]
            self._rt.cudaFreeHost(self.ptr)
            self.ptr = 0


def copy_h2d(dst: DeviceBuffer, src: PinnedBuffer, nbytes: int, stream: Stream) -> None:
    """Asynchronous host -> device copy."""
    rt = cudart()
    check(rt.cudaMemcpyAsync(dst.ptr, src.ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.stream),
          "cudaMemcpyAsync(H2D)")


def copy_d2h(dst: PinnedBuffer, src: DeviceBuffer, nbytes: int, stream: Stream) -> None:
    """Asynchronous device -> host copy."""
    rt = cudart()
    check(rt.cudaMemcpyAsync(dst.ptr, src.ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.stream),
          "cudaMemcpyAsync(D2H)")


class Graph:
    """A captured CUDA graph of the work enqueued between begin() and end()."""

    def __init__(self, stream: Stream) -> None:
        self._rt = cudart()
        self.stream = stream
        self.graph = None
        self.exec = None

    def begin(self) -> None:
        """Start capturing the stream (thread-local mode: other threads keep working)."""
        mode = self._rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        check(self._rt.cudaStreamBeginCapture(self.stream.stream, mode), "cudaStreamBeginCapture")

    def end(self) -> None:
        """Stop capturing and instantiate the graph."""
        self.graph = check(self._rt.cudaStreamEndCapture(self.stream.stream), "cudaStreamEndCapture")
        self.exec = check(self._rt.cudaGraphInstantiate(self.graph, 0), "cudaGraphInstantiate")

    def launch(self) -> None:
        """Replay the captured work on the stream."""
        check(self._rt.cudaGraphLaunch(self.exec, self.stream.stream), "cudaGraphLaunch")

    def close(self) -> None:
        """Destroy the graph and its executable."""
        if self.exec is not None:
            self._rt.cudaGraphExecDestroy(self.exec)
            self.exec = None
        if self.graph is not None:
            self._rt.cudaGraphDestroy(self.graph)
            self.graph = None
