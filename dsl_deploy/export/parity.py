"""Parity of an exported ONNX file (on ONNX Runtime) against the torch network it came from."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ArtifactError, first_line
from .ready import ReadyFields

Log = Callable[[str], None]


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


def onnxruntime_outputs(onnx_path: str | Path, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """All outputs of an ONNX file on ONNX Runtime's CPU provider, keyed by output name."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime cannot load it ({first_line(exc)})") from None
    names = [o.name for o in sess.get_outputs()]
    feed = {sess.get_inputs()[0].name: np.ascontiguousarray(inputs, dtype=np.float32)}
    return dict(zip(names, sess.run(names, feed)))


def compare_outputs(reference: dict[str, np.ndarray], got: dict[str, np.ndarray], atol: float, source: str,
                    log: Log | None = print) -> tuple[dict[str, float], list[str]]:
    """(max abs diff per output, failures) of `got` against `reference`; logs one line per output."""
    if sorted(got) != sorted(reference):
        raise ArtifactError(f"{source}: outputs {list(got)}; expected {list(reference)}")
    diffs: dict[str, float] = {}
    failed = []
    for name, ref in reference.items():
        if got[name].shape != ref.shape:
            raise ArtifactError(f"{source}: output {name} has shape {got[name].shape} on ONNX Runtime; "
                                f"torch gives {ref.shape}")
        diffs[name] = float(np.abs(got[name].astype(np.float32) - ref).max())
        ok = diffs[name] <= atol  # NaN fails too
        if log:
            log(f"parity: {name:6s} {str(ref.shape):22s} max abs diff {diffs[name]:.3g} "
                f"({'ok' if ok else 'FAIL'}, atol {atol:g})")
        if not ok:
            failed.append(f"{name} {diffs[name]:.3g}")
    return diffs, failed


def check_parity(model: nn.Module, onnx_path: str | Path, inputs: np.ndarray, atol: float = 1e-3, *,
                 log: Log | None = print) -> dict[str, float]:
    """Max abs difference per output between ONNX Runtime (CPU) and torch; ArtifactError past `atol`."""
    got = onnxruntime_outputs(onnx_path, inputs)
    diffs, failed = compare_outputs(torch_ready_outputs(model, inputs), got, atol, str(onnx_path), log)
    if failed:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime differs from torch beyond atol {atol:g} "
                            f"({', '.join(failed)}); re-export with --no-simplify or check the opset")
    return diffs
