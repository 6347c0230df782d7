"""Shared test configuration: skip GPU, TensorRT and torch tests with a reason where they cannot run."""
from __future__ import annotations

import importlib.util

import pytest


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cuda_device_count() -> int:
    """CUDA devices visible through cuda-python, or 0."""
    from dsl_deploy.errors import BackendUnavailable
    from dsl_deploy.tensorrt.cuda_runtime import cudart as cuda_runtime
    try:
        cudart = cuda_runtime()
    except BackendUnavailable:
        return 0
    try:
        err, n = cudart.cudaGetDeviceCount()
        return int(n) if int(err) == 0 else 0
    except Exception:
        return 0


HAS_TORCH = _has("torch")
HAS_TENSORRT = _has("tensorrt")
HAS_CUDA = cuda_device_count() > 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_torch = pytest.mark.skip(reason="torch is not installed (pip install '.[train]')")
    skip_cuda = pytest.mark.skip(reason="no CUDA device here (CI has none; run on a GPU machine)")
    skip_trt = pytest.mark.skip(reason="TensorRT or a CUDA device is missing (pip install '.[trt]' on a GPU machine)")
    # Markers, not keywords: pytest puts folder names (tests/tensorrt/) into the keywords too.
    for item in items:
        if item.get_closest_marker("torch") and not HAS_TORCH:
            item.add_marker(skip_torch)
        if item.get_closest_marker("cuda") and not HAS_CUDA:
            item.add_marker(skip_cuda)
        if item.get_closest_marker("tensorrt") and not (HAS_TENSORRT and HAS_CUDA):
            item.add_marker(skip_trt)


@pytest.fixture(autouse=True)
def _signal_stack_kept():
    """Fails the test after which this process's alternate signal stack changed, and puts it back.

    A library that swaps it and leaves a freed one behind (OpenVINO's CPU plugin did: see
    dsl_deploy/backends/signal_stack.py) turns a later Ctrl-C test into a SIGSEGV of the whole run; this names
    the test that did it instead.
    """
    from dsl_deploy.backends import signal_stack

    before = signal_stack.current()
    yield
    after = signal_stack.current()
    if before is not None and after is not None and after != before:
        signal_stack._install(before)
        pytest.fail(f"the test left another alternate signal stack installed ({after} instead of {before})")
