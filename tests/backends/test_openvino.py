"""OpenVINO backend: the ONNX Runtime backend's contract on the same files (FP32, FP16, INT8), its options, errors."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.backends import backend_options, load_backend, runtime_for
from dsl_deploy.backends.openvino import resolve_precision_hint
from dsl_deploy.errors import ArtifactError, BackendUnavailable, InputError

BLOCK_TORCH = "import sys\nsys.modules['torch'] = None\nsys.modules['torchvision'] = None\n"
NO_OPENVINO = "the OpenVINO backend is an optional extra: pip install 'dsl_deploy[openvino]'"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return set(line.partition(":")[2].split())


CPU_BF16 = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


@pytest.fixture(scope="module")
def ov():
    return pytest.importorskip("openvino", reason=NO_OPENVINO)


@pytest.fixture(scope="module")
def converted(artifacts, tmp_path_factory):
    """{'fp16': path, 'int8': path} of the session's resnet18 export, made by the precision step."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    from dsl_deploy.export.precision import PrecisionOptions, convert_precision

    folder = tmp_path_factory.mktemp("ov-precision")
    out = {}
    for precision in ("fp16", "int8"):
        out[precision] = folder / f"m.{precision}.onnx"
        options = PrecisionOptions(precision=precision, calib="synthetic:4" if precision == "int8" else None,
                                   calib_record=folder / "m.calib.json", check_frames=0)
        convert_precision(artifacts[1], out[precision], options, log=lambda m: None)
    return out


def _batch(n: int = 2, size: int = 129) -> np.ndarray:
    return np.random.default_rng(3).normal(0, 1, (n, 3, size, size)).astype(np.float32)


def test_import_never_needs_torch_nor_openvino():
    res = subprocess.run([sys.executable, "-c", BLOCK_TORCH + "sys.modules['openvino'] = None\n" + textwrap.dedent("""
        import dsl_deploy.backends.openvino
        print('ok', sys.modules['torch'] is not None)
    """)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ok", "False"]


def test_runs_an_export_without_torch(ov, artifacts):
    code = BLOCK_TORCH + textwrap.dedent(f"""
        import numpy as np
        from dsl_deploy.backends import load_backend
        b = load_backend({str(artifacts[1])!r}, backend='openvino', threads=1)
        out = b.infer(np.zeros((2, 3, 129, 129), np.float32))
        print(b.name, b.spec.backbone, b.inference_precision, *[out[k].shape for k in ('player', 'offset', 'pif')])
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "openvino resnet18 f32 (2, 1, 129, 129) (2, 2, 129, 129) (2, 19, 5, 17, 17)"


def test_fp32_matches_onnxruntime(ov, artifacts):
    onnx_path = artifacts[1]
    with load_backend(onnx_path, threads=1) as ref, load_backend(onnx_path, backend="openvino", threads=1) as be:
        assert be.name == "openvino" and be.device == "CPU" and be.threads == 1
        assert be.inference_precision == "f32" and be.precision_hint == "f32"
        assert be.spec == ref.spec and not be.reuses_outputs and not be.device_outputs and be.last_timings == {}
        batch = _batch()
        a, b = ref.infer(batch), be.infer(batch)
        assert list(b) == ["player", "offset", "pif"] and all(v.dtype == np.float32 for v in b.values())
        for name, shape in be.spec.output_shapes(2).items():
            assert b[name].shape == shape
            assert float(np.abs(a[name] - b[name]).max()) < 1e-3, name
        assert float(b["pif"][:, :, 0].std()) > 0.01  # the fields vary
        kept = b["player"].copy()
        be.infer(np.zeros_like(batch))
        np.testing.assert_array_equal(b["player"], kept)  # what reuses_outputs=False promises


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_converted_files_run_close_to_onnxruntime(ov, converted, precision):
    path = converted[precision]
    with load_backend(path, threads=1) as ref, load_backend(path, backend="openvino", threads=1) as be:
        assert be.spec.precision == precision
        a, b = ref.infer(_batch()), be.infer(_batch())
    for name in ("player", "offset", "pif"):
        assert b[name].shape == a[name].shape and b[name].dtype == np.float32
        scale = float(np.abs(a[name]).max())
        # Both run the file's precision, each with its own kernels (FP16 storage; INT8 rounding and fusions).
        assert float(np.abs(a[name] - b[name]).max()) < (0.02 if precision == "fp16" else 0.1) * scale, name


@pytest.mark.skipif(not CPU_BF16, reason="this CPU has no BF16 (no avx512_bf16 or amx_bf16 in /proc/cpuinfo)")
def test_bf16_hint_where_the_cpu_has_it(ov, artifacts):
    from dsl_deploy.backends.openvino import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("the CPU flags say BF16 but OpenVINO's CPU plugin does not report it")
    with load_backend(artifacts[1], backend="openvino", threads=1) as f32, \
            load_backend(artifacts[1], backend="openvino", threads=1, precision_hint="bf16") as bf16, \
            load_backend(artifacts[1], backend="openvino", threads=1, precision_hint="auto") as auto:
        assert (f32.inference_precision, bf16.inference_precision, auto.inference_precision) == ("f32", "bf16", "bf16")
        a, b = f32.infer(_batch()), bf16.infer(_batch())
    for name in ("player", "offset", "pif"):
        assert float(np.abs(a[name] - b[name]).max()) < 0.05 * float(np.abs(a[name]).max()), name


@pytest.mark.skipif(CPU_BF16, reason="this CPU has BF16: the hint is used, not refused")
def test_bf16_hint_is_refused_without_bf16_and_auto_stays_f32(ov, artifacts):
    with pytest.raises(BackendUnavailable, match="this CPU has no BF16.*'auto'"):
        load_backend(artifacts[1], backend="openvino", precision_hint="bf16")
    with load_backend(artifacts[1], backend="openvino", threads=1, precision_hint="auto") as be:
        assert be.inference_precision == "f32" and be.precision_hint == "auto"


def test_resolve_precision_hint():
    assert resolve_precision_hint("auto", ["FP32", "INT8", "BF16"]) == "bf16"
    assert resolve_precision_hint("auto", ["FP32", "INT8"]) == "f32"
    assert resolve_precision_hint("f32", ["FP32", "BF16"]) == "f32"
    assert resolve_precision_hint("bf16", ["BF16"]) == "bf16"
    with pytest.raises(BackendUnavailable, match="no BF16"):
        resolve_precision_hint("bf16", ["FP32", "INT8"])
    with pytest.raises(InputError, match="precision_hint: expected one of f32, bf16, auto, got 'fp16'"):
        resolve_precision_hint("fp16", ["FP32"])


@pytest.mark.parametrize("bad,match", [
    (np.zeros((1, 3, 129, 129), np.float64), "dtype float32"),
    (np.zeros((1, 3, 128, 129), np.float32), r"shape \(B, 3, 129, 129\)"),
    (np.zeros((3, 129, 129), np.float32), "shape"),
    ([[0.0]], "numpy float32 array"),
])
def test_bad_input(ov, artifacts, bad, match):
    with load_backend(artifacts[1], backend="openvino", threads=1) as backend:
        with pytest.raises(InputError, match=match):
            backend.infer(bad)


def test_bad_files(ov, artifacts, tmp_path):
    from dsl_deploy.backends.openvino import OpenVinoBackend

    with pytest.raises(ArtifactError, match="no such file"):
        load_backend(tmp_path / "missing.onnx", backend="openvino")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(artifacts[1].read_bytes()[:50_000])
    with pytest.raises(ArtifactError) as info:
        OpenVinoBackend(truncated)
    assert "not a readable ONNX model" in str(info.value) and "\n" not in str(info.value)
    renamed = tmp_path / "m.xml"
    renamed.write_bytes(b"<net/>")
    with pytest.raises(ArtifactError, match="expected an .onnx file exported by dsl-export"):
        OpenVinoBackend(renamed)
    backend = OpenVinoBackend(artifacts[1], threads=1)
    backend.close()
    with pytest.raises(InputError, match="this backend was closed"):
        backend.infer(_batch(1))


def test_metadata_problems_are_named_as_onnxruntime_names_them(ov, artifacts, tmp_path):
    onnx = pytest.importorskip("onnx")
    from dsl_deploy.backends.onnxruntime import OnnxRuntimeBackend
    from dsl_deploy.backends.openvino import OpenVinoBackend

    proto = onnx.load(str(artifacts[1]))
    for entry in [e for e in proto.metadata_props if e.key == "dsl_deploy.spec"]:
        proto.metadata_props.remove(entry)
    onnx.save(proto, str(tmp_path / "nospec.onnx"))
    for cls in (OnnxRuntimeBackend, OpenVinoBackend):
        with pytest.raises(ArtifactError, match="nospec.onnx: the ONNX file has no 'dsl_deploy.spec' metadata"):
            cls(tmp_path / "nospec.onnx")


def test_options(ov, artifacts):
    from dsl_deploy.backends.openvino import OpenVinoBackend

    with pytest.raises(InputError, match="threads"):
        OpenVinoBackend(artifacts[1], threads=0)
    with pytest.raises(InputError, match="precision_hint"):
        OpenVinoBackend(artifacts[1], precision_hint="fp16")


def test_missing_openvino_names_the_extra(artifacts, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(BackendUnavailable, match=r"openvino is not installed: pip install 'dsl_deploy\[openvino\]'"):
        load_backend(artifacts[1], backend="openvino")


def test_one_vocabulary_for_choosing_the_runtime():
    assert runtime_for("m.onnx") == runtime_for("m.onnx", "auto") == "onnxruntime"
    assert runtime_for("m.onnx", "openvino") == "openvino" and runtime_for("m.engine") == "tensorrt"
    with pytest.raises(InputError, match="backend: 'onnx' is not one of auto, onnxruntime, openvino, tensorrt, torch"):
        runtime_for("m.onnx", "onnx")
    with pytest.raises(InputError, match=r"openvino does not open m.pth \(a checkpoint\); a .pth file runs on torch"):
        runtime_for("m.pth", "openvino")
    assert backend_options("m.onnx", "openvino", threads=2, providers=None, precision_hint="auto") == \
        {"threads": 2, "precision_hint": "auto"}
    with pytest.raises(InputError, match="m.onnx runs on openvino: providers applies to onnxruntime only"):
        backend_options("m.onnx", "openvino", providers=["cpu"])
    with pytest.raises(InputError, match="m.onnx runs on onnxruntime: precision_hint applies to openvino only"):
        backend_options("m.onnx", None, precision_hint="bf16")


def test_pipeline_runs_a_frame_on_openvino(ov, artifacts):
    from dsl_deploy import Pipeline

    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    with Pipeline(artifacts[1], backend="openvino", threads=1) as ov_pipe, Pipeline(artifacts[1], threads=1) as ort:
        assert ov_pipe.backend.name == "openvino" and ort.backend.name == "onnxruntime"
        a, b = ort(frame), ov_pipe(frame)
    assert a.num_players == b.num_players
    with pytest.raises(InputError, match="providers applies to onnxruntime only"):
        Pipeline(artifacts[1], backend="openvino", providers=["cpu"])


def test_dsl_infer_runs_on_openvino(ov, artifacts, tmp_path):
    import cv2
    from dsl_testing.commands import run_command

    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 256, (90, 160, 3), dtype=np.uint8))
    res = run_command("dsl-infer", image, "--model", artifacts[1], "--backend", "openvino", "--threads", "1",
                      "-o", tmp_path / "out.jsonl", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1
    res = run_command("dsl-infer", image, "--model", artifacts[1], "--precision-hint", "auto", "-o", "-", cwd=tmp_path)
    assert res.returncode != 0 and "--precision-hint: applies to --backend openvino only" in res.stderr


def test_uint8_input_files_run_as_on_onnxruntime(ov, tmp_path):
    onnx = pytest.importorskip("onnx", reason="the uint8 input option rewrites the graph with onnx")
    from dsl_testing.onnx_models import disc_frame, write_disc_model

    from dsl_deploy import Pipeline
    from dsl_deploy.export.metadata import META_INPUT_FORMAT
    from dsl_deploy.export.uint8_input import write_uint8_model

    write_disc_model(tmp_path / "float.onnx", 129)
    uint8_path = write_uint8_model(tmp_path / "float.onnx", tmp_path / "uint8.onnx")
    frame = disc_frame(333, 500, [(90, 150, 60), (230, 380, 55)])
    with Pipeline(uint8_path, threads=1) as ort, Pipeline(uint8_path, backend="openvino", threads=1) as ov_pipe:
        assert ov_pipe.backend.input_format == "uint8-nhwc-bgr" and ov_pipe.backend.preprocess_output == "uint8"
        a, b = ort(frame), ov_pipe(frame)
        assert a.num_players == b.num_players == 2
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
        with pytest.raises(InputError, match="expected dtype uint8, got float32"):
            ov_pipe.backend.infer(np.zeros((1, 3, 129, 129), np.float32))
    model = onnx.load(str(uint8_path))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != META_INPUT_FORMAT]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(tmp_path / "stripped.onnx"))
    with pytest.raises(ArtifactError, match="graph input 'image' is u8 but the metadata says normalised float32"):
        load_backend(tmp_path / "stripped.onnx", backend="openvino")
