"""The Backend contract: one input check in the base, capabilities declared, not guessed."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.backends import load_backend
from dsl_deploy.backends.base import Backend
from dsl_deploy.errors import BackendUnavailable, InputError
from dsl_deploy.spec import default_spec

SPEC = default_spec("resnet18", 33)


class _Echo(Backend):
    """Records what reaches its own _infer."""

    def __init__(self) -> None:
        self.spec, self.seen = SPEC, []

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.seen.append(batch)
        self.last_timings = {"compute_ms": 1.5}
        return {name: np.zeros(shape, np.float32) for name, shape in SPEC.output_shapes(batch.shape[0]).items()}


def test_the_base_checks_the_batch_once_and_the_backend_runs_a_clean_one() -> None:
    be = _Echo()
    assert be.last_timings == {} and not be.reuses_outputs and not be.device_outputs
    strided = np.zeros((2, 3, 33, 66), np.float32)[..., ::2]
    out = be.infer(strided)
    assert out["pif"].shape == (2, 19, 5, 5, 5) and be.last_timings == {"compute_ms": 1.5}
    assert be.seen[0].flags.c_contiguous and be.seen[0].shape == (2, 3, 33, 33)
    with pytest.raises(InputError, match="expected dtype float32"):
        be.infer(np.zeros((1, 3, 33, 33), np.float64))
    with pytest.raises(InputError, match=r"expected shape \(B, 3, 33, 33\)"):
        be.infer(np.zeros((1, 3, 32, 33), np.float32))
    assert len(be.seen) == 1  # refused batches never reach the backend
    with pytest.raises(BackendUnavailable, match="outputs are host arrays only"):
        be.infer_device(np.zeros((1, 3, 33, 33), np.float32))


def test_shipped_backends_declare_host_outputs_on_the_cpu(artifacts) -> None:
    checkpoint, onnx = artifacts
    for path in (onnx, checkpoint):
        with load_backend(path) as be:
            assert not be.reuses_outputs and not be.device_outputs and be.last_timings == {}
            first = be.infer(np.zeros((1, 3, 129, 129), np.float32))["player"]
            kept = first.copy()
            be.infer(np.ones((1, 3, 129, 129), np.float32))
            np.testing.assert_array_equal(first, kept)  # what reuses_outputs=False promises
