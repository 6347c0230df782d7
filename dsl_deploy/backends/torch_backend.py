"""Torch backend: the training framework's network (checkpoint or module) behind the Backend contract.

On a CUDA device it is also the GPU path where TensorRT is not installed: `half=True` runs the network in FP16
(the heads' exp and sigmoid stay FP32: the raw outputs are cast up before the ready fields are computed), and
`cuda_graph=True` captures the whole forward once per batch size and replays it, so a frame costs one graph
launch instead of a few hundred kernel launches from Python. On CUDA, `device_outputs` is True: `infer_device` hands
the fields over on the device (DeviceFields: pointers and the current stream; the CUDA decoder takes them there),
`infer_tensors` as torch tensors; `infer` copies them to the host.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import BackendUnavailable, InputError, SpecError
from ..spec import ModelSpec
from .base import Backend, DeviceFields


class TorchBackend(Backend):
    """Runs a checkpoint, a Checkpoint or a network with `.spec` on torch; returns ready fields as numpy."""

    name = "torch"

    @classmethod
    def is_available(cls) -> bool:
        """Whether torch is installed."""
        return importlib.util.find_spec("torch") is not None

    def __init__(self, source: Any, *, device: str = "cpu", half: bool = False, cuda_graph: bool = False):
        if not self.is_available():
            raise BackendUnavailable("torch is not installed (pip install 'dsl_deploy[train]')")
        import torch

        from ..model.checkpoint import Checkpoint, load_checkpoint

        if isinstance(source, (str, Path)):
            source = load_checkpoint(source)
        if isinstance(source, Checkpoint):
            model, spec = source.model, source.spec
        elif isinstance(source, torch.nn.Module) and hasattr(source, "spec"):
            model, spec = source, cast(ModelSpec, source.spec)  # a network of model/ carries its spec
        else:
            raise SpecError(f"TorchBackend: expected a checkpoint path, a Checkpoint or a network with .spec, "
                            f"got {type(source).__name__}")
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise InputError(f"device: {device!r} is not a torch device ({exc})") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(f"torch: device {device!r} requested but no CUDA device is available")
        if (half or cuda_graph) and self.device.type != "cuda":
            what = "half (FP16)" if half else "cuda_graph"
            raise InputError(f"{what}: needs a CUDA device (device={device!r}); on a CPU use FP32 or ONNX Runtime")
        self.half = bool(half)
        self.cuda_graph = bool(cuda_graph)
        self.model = model.to(self.device).eval()
        if self.half:
            self.model.half()
        self.spec: ModelSpec = spec
        self.name = f"torch-{self.device.type}" + ("-fp16" if self.half else "") + ("-graph" if self.cuda_graph else "")
        self._graphs: dict[int, tuple[Any, Any, dict[str, Any]]] = {}
        self.device_outputs = self.device.type == "cuda"

    def _forward(self, x: Any) -> dict[str, Any]:
        """Ready fields (float32 tensors on the device) of a float32 batch already on the device."""
        from ..export.ready import ready_fields

        raw = self.model(x.half() if self.half else x)
        raw = {k: v.float() for k, v in raw.items()}  # the heads' exp and sigmoid in FP32
        out = ready_fields(raw, self.spec.pif_stride)
        return {name: out[name].contiguous() for name in self.spec.outputs}

    def _graph(self, batch: int) -> tuple[Any, Any, dict[str, Any]]:
        """(graph, static input, static outputs) for a batch size, captured at its first use."""
        import torch

        if batch not in self._graphs:
            h, w = self.spec.input.height, self.spec.input.width
            static_in = torch.zeros((batch, 3, h, w), device=self.device)
            side = torch.cuda.Stream(device=self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.no_grad(), torch.cuda.stream(side):
                for _ in range(3):  # warm-up outside the capture (cuDNN picks its algorithms here)
                    self._forward(static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.no_grad(), torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            self._graphs[batch] = (graph, static_in, static_out)
        return self._graphs[batch]

    def infer_tensors(self, batch: np.ndarray) -> dict[str, Any]:
        """Ready fields of a float32 [B,3,H,W] host batch as torch tensors on the device; with cuda_graph they are
        the graph's static outputs, overwritten by the next call."""
        return self._tensors(self.check_input(batch))

    def _tensors(self, batch: np.ndarray) -> dict[str, Any]:
        import torch

        x = torch.from_numpy(batch).to(self.device, non_blocking=self.device.type == "cuda")
        if self.cuda_graph:
            graph, static_in, static_out = self._graph(int(batch.shape[0]))
            static_in.copy_(x)
            graph.replay()
            return static_out
        with torch.inference_mode():
            return self._forward(x)

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Ready fields as host float32 arrays keyed 'player', 'offset', 'pif'."""
        out = self._tensors(batch)
        return {name: out[name].cpu().numpy() for name in self.spec.outputs}

    def _infer_device(self, batch: np.ndarray) -> DeviceFields:
        """Ready fields left on the CUDA device, queued on the current stream (the tensors kept with them)."""
        import torch

        out = self._tensors(batch)
        stream = int(torch.cuda.current_stream(self.device).cuda_stream)
        return DeviceFields({name: int(out[name].data_ptr()) for name in self.spec.outputs}, stream, keep=out)

    def close(self) -> None:
        """Release the captured graphs."""
        self._graphs.clear()
