"""ONNX Runtime backend: spec from metadata, contract outputs, errors, and no torch on import."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dsl_deploy.backends import load_backend
from dsl_deploy.backends.onnxruntime import OnnxRuntimeBackend, resolve_providers
from dsl_deploy.errors import ArtifactError, BackendUnavailable, InputError, SpecError

BLOCK_TORCH = "import sys\nsys.modules['torch'] = None\nsys.modules['torchvision'] = None\n"


def _run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_import_never_needs_torch():
    res = _run_without_torch("""
        import dsl_deploy.backends.onnxruntime, dsl_deploy.preprocess, dsl_deploy.export.metadata
        print('ok', 'torch' in sys.modules and sys.modules['torch'] is not None)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ok", "False"]


def test_runs_an_export_without_torch(artifacts):
    _, onnx_path = artifacts
    res = _run_without_torch(f"""
        import numpy as np
        from dsl_deploy.backends import load_backend
        b = load_backend({str(onnx_path)!r}, threads=1)
        out = b.infer(np.zeros((2, 3, 129, 129), np.float32))
        print(b.name, b.spec.backbone, *[out[k].shape for k in ('player', 'offset', 'pif')])
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "onnxruntime resnet18 (2, 1, 129, 129) (2, 2, 129, 129) (2, 19, 5, 17, 17)"


@pytest.mark.torch
def test_matches_torch_backend(artifacts):
    from dsl_deploy.backends.torch_backend import TorchBackend
    from dsl_deploy.export import sample_batch
    pth, onnx_path = artifacts
    ort_backend = OnnxRuntimeBackend(onnx_path, providers="cpu", threads=2)
    torch_backend = TorchBackend(pth)
    assert ort_backend.spec == torch_backend.spec
    assert ort_backend.providers == ["CPUExecutionProvider"]
    batch = sample_batch(ort_backend.spec, 2)
    a, b = ort_backend.infer(batch), torch_backend.infer(batch)
    assert list(a) == ["player", "offset", "pif"] and all(v.dtype == np.float32 for v in a.values())
    for name, shape in ort_backend.spec.output_shapes(2).items():
        assert a[name].shape == shape
        assert float(np.abs(a[name] - b[name]).max()) < 1e-3, name
    assert float(a["pif"][:, :, 0].std()) > 0.01  # the fields vary


@pytest.mark.parametrize("bad,match", [
    (np.zeros((1, 3, 129, 129), np.float64), "dtype float32"),
    (np.zeros((1, 3, 128, 129), np.float32), r"shape \(B, 3, 129, 129\)"),
    (np.zeros((3, 129, 129), np.float32), "shape"),
    ([[0.0]], "numpy float32 array"),
])
def test_bad_input(artifacts, bad, match):
    backend = load_backend(artifacts[1])
    with pytest.raises(InputError, match=match):
        backend.infer(bad)


def test_bad_files(artifacts, tmp_path):
    _, onnx_path = artifacts
    with pytest.raises(ArtifactError, match="no such file"):
        load_backend(tmp_path / "missing.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(onnx_path.read_bytes()[:50_000])
    with pytest.raises(ArtifactError) as info:
        OnnxRuntimeBackend(truncated)
    assert "not a readable ONNX model" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.torch
def test_metadata_problems(artifacts, tmp_path):
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(artifacts[1]))

    def variant(name: str, **meta: str | None):
        for entry in list(proto.metadata_props):
            if entry.key in meta:
                proto.metadata_props.remove(entry)
        for key, value in meta.items():
            if value is not None:
                proto.metadata_props.add(key=key, value=value)
        path = tmp_path / name
        onnx.save(proto, str(path))
        return path

    no_spec = variant("nospec.onnx", **{"dsl_deploy.spec": None})
    with pytest.raises(ArtifactError, match=r"nospec.onnx: the ONNX file has no 'dsl_deploy.spec' metadata"):
        OnnxRuntimeBackend(no_spec)
    newer = variant("newer.onnx", **{"dsl_deploy.spec": "{}", "dsl_deploy.format_version": "2"})
    with pytest.raises(ArtifactError, match="format_version 2 is newer"):
        OnnxRuntimeBackend(newer)
    bad_spec = variant("badspec.onnx", **{"dsl_deploy.spec": "{not json", "dsl_deploy.format_version": "1"})
    with pytest.raises(SpecError, match="badspec.onnx metadata"):
        OnnxRuntimeBackend(bad_spec)


def test_options(artifacts):
    with pytest.raises(InputError, match="threads"):
        OnnxRuntimeBackend(artifacts[1], threads=0)
    with pytest.raises(BackendUnavailable, match="not available here"):
        OnnxRuntimeBackend(artifacts[1], providers=["NoSuchExecutionProvider"])


def test_resolve_providers():
    avail = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers("auto", avail) == avail
    assert resolve_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert resolve_providers(["cuda", "cpu"], avail) == avail
    with pytest.raises(BackendUnavailable, match="TensorrtExecutionProvider"):
        resolve_providers("tensorrt", avail)


@pytest.mark.cuda
def test_cuda_provider_when_present(artifacts):
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider (install onnxruntime-gpu)")
    backend = OnnxRuntimeBackend(artifacts[1], providers="cuda")
    assert backend.providers[0] == "CUDAExecutionProvider"
    assert backend.infer(np.zeros((1, 3, 129, 129), np.float32))["pif"].shape == (1, 19, 5, 17, 17)


def test_tensorrt_provider_gets_an_engine_cache(tmp_path, monkeypatch):
    from dsl_deploy.backends.onnxruntime import _with_options
    monkeypatch.setenv("DSL_CACHE_DIR", str(tmp_path))
    opts = _with_options(["TensorrtExecutionProvider", "CPUExecutionProvider"])
    assert opts[1] == "CPUExecutionProvider"
    name, options = opts[0]
    assert name == "TensorrtExecutionProvider" and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path / "ort-trt") and (tmp_path / "ort-trt").is_dir()
