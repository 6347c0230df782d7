"""Torch backend: the training framework's network (checkpoint or module) behind the Backend contract."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable, InputError, SpecError
from .base import Backend


class TorchBackend(Backend):
    """Runs a checkpoint, a Checkpoint or a network with `.spec` on torch; returns ready fields as numpy."""

    name = "torch"

    @classmethod
    def is_available(cls) -> bool:
        """Whether torch is installed."""
        return importlib.util.find_spec("torch") is not None

    def __init__(self, source, *, device: str = "cpu"):
        if not self.is_available():
            raise BackendUnavailable("torch is not installed (pip install 'dsl_deploy[train]')")
        import torch

        from ..model.checkpoint import Checkpoint, load_checkpoint

        if isinstance(source, (str, Path)):
            source = load_checkpoint(source)
        if isinstance(source, Checkpoint):
            model, spec = source.model, source.spec
        elif isinstance(source, torch.nn.Module) and hasattr(source, "spec"):
            model, spec = source, source.spec
        else:
            raise SpecError(f"TorchBackend: expected a checkpoint path, a Checkpoint or a network with .spec, "
                            f"got {type(source).__name__}")
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise InputError(f"device: {device!r} is not a torch device ({exc})") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(f"torch: device {device!r} requested but no CUDA device is available")
        self.model = model.to(self.device).eval()
        self.spec = spec
        self.name = f"torch-{self.device.type}"

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 [B,3,H,W] batch; ready fields as host float32 arrays keyed 'player', 'offset', 'pif'."""
        import torch

        from ..export.ready import ready_fields

        batch = self.check_input(batch)
        with torch.inference_mode():
            raw = self.model(torch.from_numpy(batch).to(self.device))
            out = ready_fields(raw, self.spec.pif_stride)
            return {name: out[name].float().cpu().numpy() for name in self.spec.outputs}
