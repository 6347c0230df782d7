"""The TensorRT version layer, exercised on stand-ins shaped like the 8.6, 10.x and 11.x bindings."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from dsl_deploy.errors import ArtifactError, BackendUnavailable
from dsl_deploy.tensorrt import compat


class Flags(SimpleNamespace):
    pass


def fake_trt(version: str, **flags) -> SimpleNamespace:
    """A module-like namespace with the builder flags a given TensorRT has."""
    base = dict(FP16=1, INT8=2, OBEY_PRECISION_CONSTRAINTS=3, PREFER_PRECISION_CONSTRAINTS=4, VERSION_COMPATIBLE=5,
                GPU_FALLBACK=6)
    base.update(flags)
    trt = SimpleNamespace(__version__=version, BuilderFlag=Flags(**{k: v for k, v in base.items() if v is not None}),
                          IInt8EntropyCalibrator2=object,
                          HardwareCompatibilityLevel=SimpleNamespace(AMPERE_PLUS="A+", SAME_COMPUTE_CAPABILITY="SCC"))
    return trt


TRT11 = fake_trt("11.4.0.106", FP16=None, INT8=None, OBEY_PRECISION_CONSTRAINTS=None,
                 PREFER_PRECISION_CONSTRAINTS=None)
del TRT11.IInt8EntropyCalibrator2


class Config:
    def __init__(self):
        self.flags = []
        self.hardware_compatibility_level = None

    def set_flag(self, flag):
        self.flags.append(flag)


def test_versions():
    assert compat.parse_version("10.3.0.26") == (10, 3, 0, 26)
    assert compat.parse_version("8.6.1.post1") == (8, 6, 1)
    assert compat.version_tag("10.3.0.26") == "10.3" and compat.version_tag("9") == "9.0"


def test_import_tensorrt_says_what_is_missing():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="TensorRT is not installed.*pip install tensorrt"):
            compat.import_tensorrt()
    else:  # pragma: no cover - only on a TensorRT machine
        assert compat.import_tensorrt().__version__


def test_precision_flags_on_10x():
    trt, config = fake_trt("10.3.0"), Config()
    compat.check_precision_supported(trt, "int8")
    names = compat.set_precision_flags(trt, config, "int8", constrained=True)
    assert names == ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"] and config.flags == [1, 2, 3]
    config = Config()
    assert compat.set_precision_flags(trt, config, "fp16", constrained=True, prefer=True) == \
        ["FP16", "PREFER_PRECISION_CONSTRAINTS"]
    assert compat.set_precision_flags(trt, Config(), "fp32", constrained=False) == []


def test_tensorrt_11_refuses_weakly_typed_fp16_and_int8():
    with pytest.raises(BackendUnavailable, match="11.4.0.106 has no BuilderFlag.FP16.*dsl-export MODEL.onnx --precision fp16"):
        compat.check_precision_supported(TRT11, "fp16")
    with pytest.raises(BackendUnavailable, match="no BuilderFlag.INT8"):
        compat.check_precision_supported(TRT11, "int8")
    compat.check_precision_supported(TRT11, "fp32")
    with pytest.raises(BackendUnavailable, match="IInt8EntropyCalibrator2"):
        compat.calibrator_base(TRT11)


def test_compatibility_flags():
    trt, config = fake_trt("10.3.0"), Config()
    names = compat.set_compatibility(trt, config, True, "ampere+")
    assert names == ["VERSION_COMPATIBLE", "HARDWARE_COMPATIBILITY=AMPERE_PLUS"]
    assert config.flags == [5] and config.hardware_compatibility_level == "A+"
    old = fake_trt("8.5.3", VERSION_COMPATIBLE=None)
    with pytest.raises(BackendUnavailable, match="cannot build version-compatible"):
        compat.set_compatibility(old, Config(), True, "none")


def test_parser_errors_name_the_node():
    class Err:
        def __init__(self, desc, name, op):
            self._d, self._n, self._o = desc, name, op

        def desc(self):
            return self._d

        def node_name(self):
            return self._n

        def node_operator(self):
            return self._o

    class OldErr:
        def desc(self):
            return "bad attribute"

        def node(self):
            return 7

    errs = [Err("Unsupported operator", "head/GridSample_3", "GridSample"), OldErr()]
    parser = SimpleNamespace(num_errors=2, get_error=lambda i: errs[i])
    assert compat.parser_errors(parser) == ["Unsupported operator (name head/GridSample_3, operator GridSample)",
                                            "bad attribute (node #7)"]


def test_deserialize_none_or_raise_becomes_artifact_error():
    trt = fake_trt("10.3.0")
    runtime = SimpleNamespace(deserialize_cuda_engine=lambda blob: None, engine_host_code_allowed=False)
    with pytest.raises(ArtifactError, match="x.engine: TensorRT 10.3.0 could not deserialise.*rebuild"):
        compat.deserialize(trt, runtime, b"junk", "x.engine")
    assert runtime.engine_host_code_allowed is True

    def boom(blob):
        raise RuntimeError("magic tag mismatch")

    with pytest.raises(ArtifactError, match="magic tag mismatch"):
        compat.deserialize(trt, SimpleNamespace(deserialize_cuda_engine=boom), b"junk", "x.engine")


def test_device_memory_prefers_v2():
    assert compat.device_memory_bytes(SimpleNamespace(device_memory_size_v2=10, device_memory_size=5)) == 10
    assert compat.device_memory_bytes(SimpleNamespace(device_memory_size=5)) == 5


def test_execute_uses_v3_or_v2_bindings():
    calls = []
    ctx = SimpleNamespace(execute_async_v3=lambda s: calls.append(("v3", s)) or True,
                          execute_async_v2=lambda b, s: calls.append(("v2", tuple(b), s)) or True)
    compat.execute_async(ctx, 99, None)
    compat.execute_async(ctx, 99, [1, 2])
    assert calls == [("v3", 99), ("v2", (1, 2), 99)]
    with pytest.raises(ArtifactError, match="failed to enqueue"):
        compat.execute_async(SimpleNamespace(execute_async_v3=lambda s: False), 0, None)
