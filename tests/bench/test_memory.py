from types import SimpleNamespace

from dsl_deploy.bench.memory import gpu_used_mb, runs_on_gpu


def test_runs_on_gpu_by_backend_and_provider():
    assert runs_on_gpu(SimpleNamespace(name="tensorrt"))
    assert runs_on_gpu(SimpleNamespace(name="onnxruntime", providers=["CUDAExecutionProvider", "CPUExecutionProvider"]))
    assert not runs_on_gpu(SimpleNamespace(name="onnxruntime", providers=["CPUExecutionProvider"]))
    assert not runs_on_gpu(SimpleNamespace(name="torch"))


def test_gpu_used_is_none_or_positive():
    used = gpu_used_mb()
    assert used is None or used > 0
