"""The strongly typed build path on stand-ins of TensorRT 8.6, 10.3 and 11.4 (no GPU): which path each version
takes, the network creation flags, and a whole build on a TensorRT 11 stand-in that has only what the 11.4.0.106
bindings have (its removed builder flags, calibrators and layer precision setters raise AttributeError)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dsl_deploy.errors import ArtifactError, BackendUnavailable
from dsl_deploy.tensorrt import builder as builder_mod
from dsl_deploy.tensorrt import compat
from dsl_deploy.tensorrt.builder import BuildOptions, build_engine, build_path
from dsl_deploy.tensorrt.onnx_check import inspect_onnx
from dsl_deploy.tensorrt.profiles import load_profile, parse_profile
from dsl_deploy.tensorrt.sidecar import GpuInfo, read_sidecar

# Names the TensorRT 11.4.0.106 Python bindings no longer have (absent from the bindings' strings): the weakly
# typed precision flags and constraints, the INT8 calibrators, and the per-layer precision setters.
REMOVED_IN_11 = ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "EXPLICIT_BATCH",
                 "IInt8EntropyCalibrator2", "int8_calibrator", "set_calibration_profile", "precision",
                 "set_output_type")


class Strict:
    """An object with exactly the given attributes: reading or setting any other raises AttributeError."""

    def __init__(self, name: str, **attrs):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", dict(attrs))

    def __getattr__(self, key):
        attrs = object.__getattribute__(self, "_attrs")
        if key not in attrs:
            raise AttributeError(f"{object.__getattribute__(self, '_name')} has no attribute {key!r}")
        return attrs[key]

    def __setattr__(self, key, value):
        if key not in self._attrs:
            raise AttributeError(f"{self._name}: cannot set {key!r} (not in this TensorRT)")
        self._attrs[key] = value


def fake_trt(version: str, calls: list) -> Strict:
    major = int(version.split(".")[0])
    flags = {"VERSION_COMPATIBLE": 5, "GPU_FALLBACK": 6}
    creation = {}
    if major < 11:
        flags.update(FP16=1, INT8=2, OBEY_PRECISION_CONSTRAINTS=3, PREFER_PRECISION_CONSTRAINTS=4)
        creation["EXPLICIT_BATCH"] = 0
    if major >= 10:
        creation["STRONGLY_TYPED"] = 1

    class Monitor:  # trt.IProgressMonitor: subclassed by the progress reporter
        def __init__(self):
            pass

    def make_config():
        return Strict("IBuilderConfig", set_memory_pool_limit=lambda pool, size: calls.append(("pool", pool, size)),
                      builder_optimization_level=3, add_optimization_profile=lambda p: calls.append("profile"),
                      set_flag=lambda f: calls.append(("flag", f)), progress_monitor=None,
                      hardware_compatibility_level=None)

    def make_network(flags):
        calls.append(("create_network", flags))
        return Strict("INetworkDefinition", num_layers=0, num_outputs=0)

    builder = Strict("Builder", create_network=make_network, create_builder_config=make_config,
                     create_optimization_profile=lambda: Strict("IOptimizationProfile",
                                                                set_shape=lambda *a: calls.append("shape")),
                     build_serialized_network=lambda net, cfg: b"PLAN", num_DLA_cores=0)
    engine = Strict("ICudaEngine", device_memory_size_v2=1024)
    runtime = Strict("Runtime", deserialize_cuda_engine=lambda blob: engine, engine_host_code_allowed=False)
    parser = Strict("OnnxParser", parse_from_file=lambda path: calls.append(("parse", path)) or True,
                    num_errors=0)
    attrs = dict(__version__=version, BuilderFlag=Strict("BuilderFlag", **flags),
                 NetworkDefinitionCreationFlag=Strict("NetworkDefinitionCreationFlag", **creation),
                 Logger=type("Logger", (), {"WARNING": 2, "VERBOSE": 4, "__init__": lambda self, s: None,
                                            "min_severity": None}),
                 MemoryPoolType=Strict("MemoryPoolType", WORKSPACE=0), IProgressMonitor=Monitor,
                 Builder=lambda lg: builder, OnnxParser=lambda net, lg: parser, Runtime=lambda lg: runtime,
                 float32="f32", float16="f16")
    if major < 11:
        attrs["IInt8EntropyCalibrator2"] = object
    return Strict(f"tensorrt {version}", **attrs)


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    """The tiny stand-in in FP32, FP16, INT8 for TensorRT (zero points 0) and INT8 for the CPU (uint8)."""
    pytest.importorskip("onnxruntime.quantization")
    from dsl_testing.onnx_models import tiny_conv_model

    from dsl_deploy.export.precision import PrecisionOptions, convert_precision

    import onnx

    fp32 = tmp_path / "m.onnx"
    onnx.save(tiny_conv_model(), str(fp32))
    out = {"fp32": fp32}
    for name, kw in {"fp16": {"precision": "fp16"}, "int8": {"precision": "int8", "int8_scheme": "tensorrt"},
                     "int8-cpu": {"precision": "int8", "int8_scheme": "cpu"}}.items():
        out[name] = tmp_path / f"m.{name}.onnx"
        convert_precision(fp32, out[name], PrecisionOptions(calib="synthetic:2", check_frames=0, **kw),
                          log=lambda m: None)
    return out


def _target(precision: str, tensorrt: str = "") -> object:
    return parse_profile({"name": f"t-{precision}", "description": "t", "precision": precision, "timing_cache": "",
                          "tensorrt": tensorrt, "input": {"max_batch": 2}}, source="t.toml")


@pytest.mark.parametrize("version, onnx_precision, target, path", [
    ("11.4.0.106", "int8", "int8", compat.STRONGLY_TYPED), ("11.4.0.106", "fp16", "fp16", compat.STRONGLY_TYPED),
    ("11.4.0.106", "fp32", "fp32", compat.STRONGLY_TYPED), ("10.3.0", "fp16", "fp16", compat.STRONGLY_TYPED),
    ("10.3.0", "fp32", "fp16", compat.BUILDER_FLAGS), ("10.3.0", "fp32", "int8", compat.BUILDER_FLAGS),
    ("8.6.1", "int8", "int8", compat.BUILDER_FLAGS), ("8.6.1", "fp16", "fp16", compat.BUILDER_FLAGS),
])
def test_each_tensorrt_takes_its_path(version, onnx_precision, target, path):
    assert compat.choose_path(fake_trt(version, []), onnx_precision, target) == path


def test_tensorrt_11_says_which_file_to_make_and_mismatches_are_refused():
    trt = fake_trt("11.4.0.106", [])
    with pytest.raises(BackendUnavailable, match="this file is fp32.*dsl-export MODEL.onnx --precision int8 "
                                                 "--int8-scheme tensorrt"):
        compat.choose_path(trt, "fp32", "int8", "target jetson-orin-int8")
    with pytest.raises(BackendUnavailable, match="the model is int8 but target x is fp16"):
        compat.choose_path(trt, "int8", "fp16", "target x")


def test_network_creation_flags_per_version():
    for version, strong, flags in [("8.6.1", False, 1 << 0), ("10.3.0", True, 1 << 1), ("10.3.0", False, 0),
                                   ("11.4.0.106", True, 1 << 1), ("11.4.0.106", False, 0)]:
        calls: list = []
        trt = fake_trt(version, calls)
        compat.create_network(trt, trt.Builder(None), strongly_typed=strong)
        assert calls == [("create_network", flags)], version


def test_int8_for_the_cpu_is_refused_by_the_builder(models):
    trt = fake_trt("10.3.0", [])
    with pytest.raises(ArtifactError, match="uint8 with zero points.*--int8-scheme tensorrt"):
        build_path(trt, inspect_onnx(models["int8-cpu"]), _target("int8"))
    assert build_path(trt, inspect_onnx(models["int8"]), _target("int8")) == compat.STRONGLY_TYPED


def test_the_target_range_is_checked():
    trt = fake_trt("10.5.0", [])
    with pytest.raises(BackendUnavailable, match="target v100-fp16 builds with TensorRT >=8.6,<10.5.*this is "
                                                 "TensorRT 10.5.0"):
        builder_mod.check_tensorrt_range(trt, load_profile("v100-fp16"))
    builder_mod.check_tensorrt_range(fake_trt("10.4.0", []), load_profile("v100-fp16"))


@pytest.mark.parametrize("name", ["int8", "fp16"])
def test_a_whole_strongly_typed_build_on_tensorrt_11_touches_no_removed_api(models, tmp_path, monkeypatch, name):
    calls: list = []
    trt = fake_trt("11.4.0.106", calls)
    for removed in REMOVED_IN_11:  # the stand-in really lacks them
        with pytest.raises(AttributeError):
            getattr(trt.BuilderFlag, removed) if removed.isupper() else getattr(trt, removed)
    monkeypatch.setattr(compat, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(compat, "_LOGGER", None)
    monkeypatch.setattr(builder_mod.cuda_runtime, "open_device", lambda device: GpuInfo("NVIDIA H100", "9.0"))
    info = inspect_onnx(models[name])
    report = build_engine(info, _target(name, ">=10.0"), BuildOptions(output=tmp_path / "m.engine"),
                          log=lambda m: calls.append(("log", m)))
    assert ("create_network", 1 << 1) in calls and not [c for c in calls if c[0] == "flag"]
    assert report.engine_path.read_bytes() == b"PLAN" and not report.fp32_layers and report.calibration is None
    doc = read_sidecar(report.engine_path)
    assert doc["build"]["flags"]["path"] == "strongly-typed" and doc["build"]["flags"]["builder_flags"] == []
    assert doc["spec"]["precision"] == name
    assert any("strongly typed" in c[1] for c in calls if c[0] == "log")
