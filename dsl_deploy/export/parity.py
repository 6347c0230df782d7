"""Parity of an exported ONNX file (on ONNX Runtime) against the torch network it came from."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ArtifactError
from .ready import ReadyFields


def torch_ready_outputs(model: nn.Module, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Ready fields of the torch network (raw model or ReadyFields wrapper) as numpy, keyed by output name."""
    wrapper = model if isinstance(model, ReadyFields) else ReadyFields(model)
    was_training = wrapper.training
    wrapper.eval()
    try:
        with torch.no_grad():
            outs = wrapper(torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)))
    finally:
        wrapper.train(was_training)
    return {name: t.cpu().numpy() for name, t in zip(wrapper.spec.outputs, outs)}


def check_parity(model: nn.Module, onnx_path: str | Path, inputs: np.ndarray, atol: float = 1e-3, *,
                 log: Callable[[str], None] | None = print) -> dict[str, float]:
    """Max abs difference per output between ONNX Runtime (CPU) and torch; ArtifactError past `atol`."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0][:200]})") from None
    reference = torch_ready_outputs(model, inputs)
    names = [o.name for o in sess.get_outputs()]
    if sorted(names) != sorted(reference):
        raise ArtifactError(f"{onnx_path}: outputs {names}; expected {list(reference)}")
    got = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: inputs.astype(np.float32)})))
    diffs: dict[str, float] = {}
    failed = []
    for name, ref in reference.items():
        if got[name].shape != ref.shape:
            raise ArtifactError(f"{onnx_path}: output {name} has shape {got[name].shape} on ONNX Runtime; "
                                f"torch gives {ref.shape}")
        diffs[name] = float(np.abs(got[name].astype(np.float32) - ref).max())
        ok = diffs[name] <= atol
        if log:
            log(f"parity: {name:6s} {str(ref.shape):22s} max abs diff {diffs[name]:.3g} "
                f"({'ok' if ok else 'FAIL'}, atol {atol:g})")
        if not ok:
            failed.append(f"{name} {diffs[name]:.3g}")
    if failed:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime differs from torch beyond atol {atol:g} "
                            f"({', '.join(failed)}); re-export with --no-simplify or check the opset")
    return diffs
