"""TensorRT backend: the checks that run before deserialising (CPU) and real inference (GPU, marked)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dsl_deploy.backends import load_backend
from dsl_deploy.errors import ArtifactError, BackendUnavailable, InputError
from dsl_deploy.spec import default_spec
from dsl_deploy.tensorrt.sidecar import GpuInfo, make_sidecar, read_sidecar, sha256_file, write_sidecar


def _fake_engine(tmp_path, payload=b"plan bytes"):
    engine = tmp_path / "model.engine"
    engine.write_bytes(payload)
    doc = make_sidecar(spec=default_spec("resnet18", 33).to_dict(), tensorrt_version="10.3.0",
                       gpu=GpuInfo("Orin", "8.7"), build={"target": {"name": "jetson-orin-fp16"}, "flags": {}},
                       onnx_path="model.onnx", onnx_sha256="0" * 64, engine_sha256=sha256_file(engine),
                       device_memory_bytes=0)
    write_sidecar(engine, doc)
    return engine


def test_runtime_modules_never_import_torch():
    code = ("import sys, dsl_deploy.tensorrt.backend, dsl_deploy.tensorrt.builder, dsl_deploy.cli.build, "
            "dsl_deploy.tensorrt.agreement; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_engine_and_missing_sidecar(tmp_path):
    from dsl_deploy.tensorrt.backend import TensorRTBackend

    with pytest.raises(ArtifactError, match="no such engine file"):
        TensorRTBackend(tmp_path / "absent.engine")
    lonely = tmp_path / "lonely.engine"
    lonely.write_bytes(b"x")
    with pytest.raises(ArtifactError, match="sidecar lonely.engine.json is missing"):
        load_backend(lonely)


def test_sha_mismatch_is_found_before_tensorrt_is_needed(tmp_path):
    engine = _fake_engine(tmp_path)
    engine.write_bytes(b"swapped")
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        load_backend(engine)


def test_onnx_runtime_options_are_refused_not_ignored(tmp_path):
    from dsl_deploy.tensorrt.backend import TensorRTBackend

    assert TensorRTBackend.device_outputs and not TensorRTBackend.reuses_outputs
    with pytest.raises(InputError, match="threads: ONNX Runtime's CPU threads do not apply to a TensorRT engine"):
        load_backend(_fake_engine(tmp_path), threads=4)
    with pytest.raises(InputError, match="providers: ONNX Runtime execution providers do not apply"):
        load_backend(_fake_engine(tmp_path), providers=["CUDAExecutionProvider"])


def test_without_tensorrt_or_gpu_it_says_what_is_missing(tmp_path):
    from dsl_deploy.tensorrt.backend import TensorRTBackend

    engine = _fake_engine(tmp_path)
    assert read_sidecar(engine)["engine_sha256"] == sha256_file(engine)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
            TensorRTBackend(engine)
        assert TensorRTBackend.is_available() is False
    else:  # pragma: no cover - TensorRT machines: the foreign sidecar (Orin, 10.3.0) must be refused instead
        with pytest.raises((ArtifactError, BackendUnavailable)):
            TensorRTBackend(engine)


# ---- GPU -------------------------------------------------------------------------------------

@pytest.fixture
def fp16_engine(tmp_path, tiny_onnx):
    """A real FP16 engine of the tiny model (batch 1..4)."""
    from dsl_deploy.tensorrt.builder import BuildOptions, build_engine
    from dsl_deploy.tensorrt.onnx_check import inspect_onnx
    from dsl_deploy.tensorrt.profiles import parse_profile

    profile = parse_profile({"name": "test-fp16", "description": "t", "precision": "fp16", "timing_cache": "",
                             "input": {"min_batch": 1, "opt_batch": 2, "max_batch": 4}})
    report = build_engine(inspect_onnx(tiny_onnx), profile, BuildOptions(output=tmp_path / "tiny.engine"),
                          log=lambda m: None)
    return report.engine_path


def _onnx_outputs(onnx_path, batch):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return dict(zip(["player", "offset", "pif"], sess.run(["player", "offset", "pif"], {"image": batch})))


@pytest.mark.tensorrt
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_fp16_parity_dynamic_batch_and_timings(fp16_engine, tiny_onnx, cuda_graph):
    rng = np.random.default_rng(1)
    with load_backend(fp16_engine, cuda_graph=cuda_graph) as be:
        assert be.max_batch == 4 and be.device_memory_bytes >= 0
        for b in (1, 3, 1):
            batch = rng.normal(size=(b, 3, 33, 33)).astype(np.float32)
            out = be.infer(batch)
            ref = _onnx_outputs(tiny_onnx, batch)
            for name in ("player", "offset", "pif"):
                assert out[name].shape == ref[name].shape and out[name].dtype == np.float32
                assert np.max(np.abs(out[name] - ref[name])) < 2e-2, name
            assert set(be.last_timings) == {"h2d_ms", "compute_ms", "d2h_ms", "host_ms"}
            assert all(v >= 0 for v in be.last_timings.values())
        with pytest.raises(InputError, match="batch 5 is outside"):
            be.infer(np.zeros((5, 3, 33, 33), np.float32))


@pytest.mark.tensorrt
def test_infer_device_returns_pointers_to_the_outputs(fp16_engine):
    from dsl_deploy.tensorrt import cuda_runtime as cuda

    rt = cuda.cudart()
    batch = np.random.default_rng(2).normal(size=(2, 3, 33, 33)).astype(np.float32)
    with load_backend(fp16_engine) as be:
        host = be.infer(batch)
        out = be.infer_device(batch)
        assert be.device_outputs and out.stream == be.stream_handle and out.keep is be
        assert be.last_timings["d2h_ms"] == 0.0
        got = np.empty_like(host["player"])
        cuda.check(rt.cudaMemcpy(got.ctypes.data, out.pointers["player"], got.nbytes,
                                 rt.cudaMemcpyKind.cudaMemcpyDeviceToHost), "cudaMemcpy")
        np.testing.assert_array_equal(got, host["player"])


@pytest.mark.tensorrt
def test_foreign_gpu_and_corrupt_engine_are_refused(fp16_engine):
    import json

    from dsl_deploy.tensorrt.sidecar import sidecar_path

    side = sidecar_path(fp16_engine)
    doc = json.loads(side.read_text())
    good = dict(doc)
    doc["gpu"] = {"name": "Some Other GPU", "compute_capability": "5.0"}
    side.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="built for Some Other GPU.*Rebuild with: dsl-build"):
        load_backend(fp16_engine)
    fp16_engine.write_bytes(fp16_engine.read_bytes()[:200])  # truncated plan, sidecar hash updated to match
    good["engine_sha256"] = sha256_file(fp16_engine)
    side.write_text(json.dumps(good))
    with pytest.raises(ArtifactError, match="could not deserialise"):
        load_backend(fp16_engine)


@pytest.mark.tensorrt
def test_benchmark_timing_summary(fp16_engine):
    from dsl_testing.scripts import load_script

    bench = load_script("benchmarks/bench_tensorrt.py")
    result = bench.time_engine(fp16_engine, np.zeros((2, 3, 33, 33), np.float32), warmup=2, iters=5, cuda_graph=True)
    assert result["batch"] == 2 and result["iters"] == 5
    for key in ("h2d_ms", "compute_ms", "d2h_ms", "host_ms"):
        assert 0 <= result[key]["min"] <= result[key]["median"] <= result[key]["max"]
