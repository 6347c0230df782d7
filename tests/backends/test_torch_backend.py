"""Torch backend: same contract as ONNX Runtime, from a path, a Checkpoint or a module."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.backends import load_backend  # noqa: E402
from dsl_deploy.backends.torch_backend import TorchBackend  # noqa: E402
from dsl_deploy.errors import ArtifactError, BackendUnavailable, InputError, SpecError  # noqa: E402
from dsl_deploy.export import ready_fields, sample_batch  # noqa: E402
from dsl_deploy.model import load_checkpoint  # noqa: E402

pytestmark = pytest.mark.torch


def test_sources_agree(artifacts):
    pth, _ = artifacts
    ckpt = load_checkpoint(pth)
    backends = [load_backend(pth), TorchBackend(ckpt), TorchBackend(ckpt.model)]
    assert all(b.spec == ckpt.spec and b.name == "torch-cpu" for b in backends)
    batch = sample_batch(ckpt.spec, 1)
    outs = [b.infer(batch) for b in backends]
    with torch.no_grad():
        expected = ready_fields(ckpt.model(torch.from_numpy(batch)))
    for out in outs:
        assert list(out) == ["player", "offset", "pif"]
        for name in out:
            assert out[name].dtype == np.float32
            np.testing.assert_array_equal(out[name], expected[name].numpy())


def test_errors(artifacts, tmp_path):
    pth, _ = artifacts
    backend = TorchBackend(pth)
    with pytest.raises(InputError, match="dtype float32"):
        backend.infer(np.zeros((1, 3, 129, 129), np.float16))
    with pytest.raises(InputError, match="shape"):
        backend.infer(np.zeros((1, 3, 161, 161), np.float32))
    with pytest.raises(SpecError, match="expected a checkpoint path"):
        TorchBackend(torch.nn.Linear(2, 2))
    with pytest.raises(ArtifactError, match="no such checkpoint"):
        TorchBackend(tmp_path / "missing.pth")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="no CUDA device"):
            TorchBackend(pth, device="cuda")


@pytest.mark.cuda
def test_cuda_device_matches_cpu(artifacts):
    pth, _ = artifacts
    batch = sample_batch(load_checkpoint(pth).spec, 1)
    cpu, gpu = TorchBackend(pth).infer(batch), TorchBackend(pth, device="cuda").infer(batch)
    for name in cpu:
        assert float(np.abs(cpu[name] - gpu[name]).max()) < 1e-2, name
