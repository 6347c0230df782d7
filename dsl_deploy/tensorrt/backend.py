"""TensorRT backend: a checked engine, pinned buffers, async copies on one stream, optional CUDA graphs."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..backends.base import Backend, DeviceFields
from ..errors import ArtifactError, BackendUnavailable, InputError
from ..export.metadata import INPUT_UINT8
from ..spec import ModelSpec
from . import compat, cuda_runtime
from .sidecar import check_compatibility, check_engine_hash, read_sidecar, rebuild_command, sidecar_path


class TensorRTBackend(Backend):
    """Runs a dsl-build engine. `infer` returns host copies; `infer_device` leaves the outputs in the engine's
    device buffers (DeviceFields: their pointers and the backend's stream, valid until the next call), for the
    CUDA decoder. cuda_graph=True captures one CUDA graph per batch size on first use and replays it.

    After each call `last_timings` holds h2d_ms, compute_ms, d2h_ms (CUDA events on the stream) and
    host_ms (wall time of the whole call, including the input copy into pinned memory).
    """

    name = "tensorrt"
    reuses_outputs = False  # infer copies out of the pinned buffers
    device_outputs = True

    def __init__(self, path: str | Path, *, device: int = 0, cuda_graph: bool = False,
                 threads: int | None = None, providers: object = None):
        if providers is not None:
            raise InputError("providers: ONNX Runtime execution providers do not apply to a TensorRT engine")
        if threads is not None:
            raise InputError("threads: ONNX Runtime's CPU threads do not apply to a TensorRT engine (it runs on the "
                             "GPU)")
        self.path = Path(path)
        if not self.path.is_file():
            raise ArtifactError(f"{self.path}: no such engine file")
        # Everything checkable without a GPU is checked first, so a wrong file fails the same way everywhere.
        self.sidecar = read_sidecar(self.path)
        self.spec = ModelSpec.from_dict(self.sidecar["spec"], source=f"{sidecar_path(self.path)} 'spec'")
        check_engine_hash(self.sidecar, self.path)
        self._trt = trt = compat.import_tensorrt()
        self.gpu = cuda_runtime.open_device(device)
        check_compatibility(self.sidecar, self.path, tensorrt_version=trt.__version__, gpu=self.gpu)

        self.device = device
        self.cuda_graph = cuda_graph
        self._logger = compat.make_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        self._engine = compat.deserialize(trt, self._runtime, self.path.read_bytes(), str(self.path),
                                          rebuild_command(self.sidecar, self.path))
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise BackendUnavailable(f"{self.path}: TensorRT could not create an execution context "
                                     "(out of GPU memory?)")

        names = compat.io_tensor_names(self._engine)
        self.input_name: str = next((n for n in names if compat.is_input(trt, self._engine, n)), "")
        self.output_names = [n for n in names if not compat.is_input(trt, self._engine, n)]
        if self.input_name != self.spec.input.name or set(self.output_names) != set(self.spec.outputs):
            raise ArtifactError(f"{self.path}: engine I/O is {self.input_name} -> {self.output_names}; expected "
                                f"{self.spec.input.name} -> {list(self.spec.outputs)} (from its sidecar spec)")
        _, _, max_shape = compat.profile_shapes(self._engine, self.input_name)
        self.max_batch = int(max_shape[0])
        self.min_batch = int(compat.profile_shapes(self._engine, self.input_name)[0][0])

        self._stream = cuda_runtime.Stream()
        self._events = [cuda_runtime.Event() for _ in range(4)]
        self._host: dict[str, cuda_runtime.PinnedBuffer] = {}
        self._dev: dict[str, cuda_runtime.DeviceBuffer] = {}
        self._dtypes = {n: np.dtype(compat.tensor_dtype(trt, self._engine, n)) for n in names}
        h, w = self.spec.input.height, self.spec.input.width
        if self._dtypes[self.input_name] == np.uint8:  # built from a dsl-export --uint8-input file
            self.input_format = INPUT_UINT8
            full = {self.input_name: (self.max_batch, h, w, 3)}
        else:
            full = {self.input_name: (self.max_batch, 3, h, w)}
        full.update({n: self.spec.output_shapes(self.max_batch)[n] for n in self.output_names})
        # The buffers are sized from the spec; an engine that disagrees would overrun them.
        compat.set_input_shape(self._engine, self._context, self.input_name, full[self.input_name])
        self._batch = self.max_batch
        for n in self.output_names:
            actual = compat.tensor_shape(self._engine, self._context, n)
            if actual != tuple(full[n]):
                raise ArtifactError(f"{self.path}: engine output '{n}' has shape {list(actual)} at batch "
                                    f"{self.max_batch}; its spec says {list(full[n])}. Rebuild with: "
                                    f"{rebuild_command(self.sidecar, self.path)}")
        for n, shape in full.items():
            self._host[n] = cuda_runtime.PinnedBuffer(shape, self._dtypes[n])
            self._dev[n] = cuda_runtime.DeviceBuffer(self._host[n].nbytes)
        self._bindings = compat.bind_addresses(self._engine, self._context, {n: b.ptr for n, b in self._dev.items()})
        self._graphs: dict[int, cuda_runtime.Graph] = {}

    # ---- public API -----------------------------------------------------------------------
    @classmethod
    def is_available(cls) -> bool:
        """Whether TensorRT, cuda-python and a CUDA device are all present."""
        try:
            compat.import_tensorrt()
            cuda_runtime.open_device(0)
        except BackendUnavailable:
            return False
        return True

    @property
    def device_memory_bytes(self) -> int:
        """Activation memory of the execution context, in bytes (the engine's weights are extra)."""
        return compat.device_memory_bytes(self._engine)

    @property
    def stream_handle(self) -> int:
        """The CUDA stream all work runs on (for consumers of infer_device that want to chain work)."""
        return self._stream.handle

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Host float32 arrays (copies) keyed by output name."""
        t0 = time.perf_counter()
        shapes = self._run(batch, copy_back=True)
        out = {n: np.array(self._host[n].view(shapes[n]), dtype=np.float32, copy=True) for n in self.output_names}
        self.last_timings["host_ms"] = (time.perf_counter() - t0) * 1e3
        return out

    def _infer_device(self, batch: np.ndarray) -> DeviceFields:
        """The outputs left in the engine's device buffers, ready on `stream_handle` (valid until the next call)."""
        t0 = time.perf_counter()
        self._run(batch, copy_back=False)
        self.last_timings["host_ms"] = (time.perf_counter() - t0) * 1e3
        return DeviceFields({n: self._dev[n].ptr for n in self.output_names}, self._stream.handle, keep=self)

    def output_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """Output shapes for a batch size (for consumers of infer_device)."""
        return {n: tuple(self.spec.output_shapes(batch)[n]) for n in self.output_names}

    def close(self) -> None:
        """Free graphs, buffers, events, the stream and the engine."""
        for g in getattr(self, "_graphs", {}).values():
            g.close()
        for buf in list(getattr(self, "_host", {}).values()) + list(getattr(self, "_dev", {}).values()):
            buf.close()
        for ev in getattr(self, "_events", []):
            ev.close()
        if getattr(self, "_stream", None) is not None:
            self._stream.close()
        self._graphs, self._host, self._dev, self._events = {}, {}, {}, []
        # Released with the CUDA objects above; a closed backend is not used again.
        self._context = self._engine = self._runtime = None  # type: ignore[assignment]

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: CUDA may already be gone
            pass

    # ---- internals ------------------------------------------------------------------------
    def _run(self, batch: np.ndarray, copy_back: bool) -> dict[str, tuple[int, ...]]:
        b = batch.shape[0]
        if not self.min_batch <= b <= self.max_batch:
            raise InputError(f"input: batch {b} is outside this engine's range {self.min_batch}..{self.max_batch}; "
                             "split the batch or rebuild with a larger max_batch in the target profile")
        if b != self._batch:
            compat.set_input_shape(self._engine, self._context, self.input_name, tuple(batch.shape))
            self._batch = b
        shapes = {n: compat.tensor_shape(self._engine, self._context, n) for n in self.output_names}
        src = self._host[self.input_name]
        np.copyto(src.view(batch.shape), batch, casting="same_kind")
        ev = self._events
        ev[0].record(self._stream)
        nbytes = batch.size * self._dtypes[self.input_name].itemsize  # the engine's input type, not the batch's
        cuda_runtime.copy_h2d(self._dev[self.input_name], src, nbytes, self._stream)
        ev[1].record(self._stream)
        self._execute(b)
        ev[2].record(self._stream)
        if copy_back:
            for n in self.output_names:
                nbytes = int(np.prod(shapes[n])) * self._dtypes[n].itemsize
                cuda_runtime.copy_d2h(self._host[n], self._dev[n], nbytes, self._stream)
        ev[3].record(self._stream)
        self._stream.synchronize()
        self.last_timings = {"h2d_ms": ev[1].ms_since(ev[0]), "compute_ms": ev[2].ms_since(ev[1]),
                             "d2h_ms": ev[3].ms_since(ev[2]) if copy_back else 0.0}
        return shapes

    def _execute(self, b: int) -> None:
        if not self.cuda_graph:
            compat.execute_async(self._context, self._stream.handle, self._bindings)
            return
        graph = self._graphs.get(b)
        if graph is None:
            # One plain run first: TensorRT applies deferred shape updates outside the capture.
            compat.execute_async(self._context, self._stream.handle, self._bindings)
            self._stream.synchronize()
            graph = cuda_runtime.Graph(self._stream)
            graph.begin()
            try:
                compat.execute_async(self._context, self._stream.handle, self._bindings)
            finally:
                graph.end()
            self._graphs[b] = graph
        graph.launch()
