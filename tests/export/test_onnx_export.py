"""ONNX export: checker, metadata, I/O names and shapes, dynamic batch, parity, simplification fallback."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from dsl_deploy import __version__  # noqa: E402
from dsl_deploy.errors import ArtifactError, SpecError  # noqa: E402
from dsl_deploy.export import check_parity, export_onnx, sample_batch  # noqa: E402
from dsl_deploy.export.metadata import META_FORMAT_VERSION, META_SPEC, META_VERSION  # noqa: E402
from dsl_deploy.spec import ModelSpec, default_spec  # noqa: E402

pytestmark = pytest.mark.torch
HAS_ONNXSLIM = importlib.util.find_spec("onnxslim") is not None
needs_onnxslim = pytest.mark.skipif(not HAS_ONNXSLIM, reason="onnxslim is not installed")


def test_checker_metadata_and_io(exported, lively_model):
    path, lines = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert ModelSpec.from_json(meta[META_SPEC]) == lively_model.spec
    assert meta[META_VERSION] == __version__ and meta[META_FORMAT_VERSION] == "1"
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["player", "offset", "pif"]
    if HAS_ONNXSLIM:
        assert any(line.startswith("simplify: onnxslim") for line in lines)
        assert "parity ok: ONNX Runtime matches torch within 0.001 (simplified graph)" in lines
    else:
        assert "simplify: onnxslim is not installed; keeping the graph as exported" in lines


def test_dynamic_batch_shapes_on_onnxruntime(exported, lively_model):
    path, _ = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"image": sample_batch(lively_model.spec, 3)})
    expected = lively_model.spec.output_shapes(3)
    assert [o.shape for o in outs] == [expected[k] for k in ("player", "offset", "pif")]


def test_parity_within_tolerance(exported, lively_model):
    path, _ = exported
    printed: list[str] = []
    diffs = check_parity(lively_model, path, sample_batch(lively_model.spec, 2), 1e-3, log=printed.append)
    assert set(diffs) == {"player", "offset", "pif"} and max(diffs.values()) < 1e-3
    assert len(printed) == 3 and all("max abs diff" in line for line in printed)
    # The fields must really vary, or parity would prove little.
    ref = torch.from_numpy(sample_batch(lively_model.spec, 1))
    with torch.no_grad():
        raw = lively_model(ref)
    assert float(raw["offset"].std()) > 0.05 and float(torch.sigmoid(raw["pif"][:, :, 0]).std()) > 0.01


def test_parity_detects_a_different_network(exported, lively_model):
    path, _ = exported
    from dsl_deploy.model import build_model
    torch.manual_seed(5)
    other = build_model(lively_model.spec).eval()
    with torch.no_grad():
        other.seg_head.offset[-1].weight.normal_(std=50.0)
    with pytest.raises(ArtifactError, match="differs from torch beyond atol"):
        check_parity(other, path, sample_batch(lively_model.spec, 1), 1e-3, log=None)


@needs_onnxslim
def test_simplifier_failure_falls_back(tiny_model, tmp_path, monkeypatch):
    import onnxslim

    def broken(*args, **kwargs):
        raise RuntimeError("simulated simplifier bug")

    monkeypatch.setattr(onnxslim, "slim", broken)
    lines: list[str] = []
    path = export_onnx(tiny_model, tiny_model.spec, tmp_path / "fallback.onnx", log=lines.append)
    assert any("onnxslim failed" in line and "unsimplified" in line for line in lines)
    diffs = check_parity(tiny_model, path, sample_batch(tiny_model.spec, 1), 1e-3, log=None)
    assert max(diffs.values()) < 1e-3
    assert [p.name for p in tmp_path.iterdir()] == ["fallback.onnx"]  # no temporary left behind


@needs_onnxslim
def test_simplified_graph_failing_the_checks_falls_back(tiny_model, tmp_path, monkeypatch):
    """onnxslim can leave an untyped value (onnx.checker: 'Invalid tensor data type 0'): use the plain graph."""
    from dsl_deploy.export import onnx_export
    real, calls = onnx_export._finish, []

    def flaky(proto, *args):
        calls.append(proto)
        if len(calls) == 1:
            raise ArtifactError("m.onnx: the exported graph fails onnx.checker: Invalid tensor data type 0.")
        return real(proto, *args)

    monkeypatch.setattr(onnx_export, "_finish", flaky)
    lines: list[str] = []
    export_onnx(tiny_model, tiny_model.spec, tmp_path / "m.onnx", log=lines.append)
    assert len(calls) == 2
    assert any("simplified graph fails the checks" in line and "unsimplified" in line for line in lines), lines
    assert "parity ok: ONNX Runtime matches torch within 0.001 (unsimplified graph)" in lines


@needs_onnxslim
def test_simplifier_that_changes_outputs_falls_back(tiny_model, tmp_path, monkeypatch):
    import onnxslim
    from onnx import numpy_helper
    real = onnxslim.slim

    def wrong(model, *args, **kwargs):
        slim = real(model, *args, **kwargs)
        head = next(t for t in slim.graph.initializer if t.name.endswith("pif.weight"))
        head.CopyFrom(numpy_helper.from_array(2 * numpy_helper.to_array(head), head.name))
        return slim

    monkeypatch.setattr(onnxslim, "slim", wrong)
    lines: list[str] = []
    path = export_onnx(tiny_model, tiny_model.spec, tmp_path / "fallback.onnx", log=lines.append)
    assert any("FAIL" in line for line in lines)
    assert "simplify: the simplified graph fails parity; falling back to the unsimplified graph" in lines
    assert lines[-1] == "parity ok: ONNX Runtime matches torch within 0.001 (unsimplified graph)"
    assert max(check_parity(tiny_model, path, sample_batch(tiny_model.spec, 1), log=None).values()) < 1e-3


def test_spec_must_match_the_model(lively_model, tmp_path):
    with pytest.raises(SpecError, match="differs from the model"):
        export_onnx(lively_model, default_spec("resnet50", 129), tmp_path / "x.onnx")
    with pytest.raises(ArtifactError, match="does not exist"):
        export_onnx(lively_model, lively_model.spec, tmp_path / "missing" / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_sample_batch_is_a_normalised_frame():
    spec = default_spec("resnet18", 129)
    batch = sample_batch(spec, 2)
    assert batch.shape == (2, 3, 129, 129) and batch.dtype == np.float32
    assert -2.5 < float(batch.min()) < float(batch.max()) < 2.7 and float(batch.std()) > 0.1


def test_exporter_failure_is_one_artifact_error(tiny_model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated exporter bug\nwith a second line")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ArtifactError, match="torch.onnx.export .* failed: RuntimeError: simulated exporter bug; "):
        export_onnx(tiny_model, tiny_model.spec, tmp_path / "x.onnx")
    with pytest.raises(SpecError, match="unknown exporter"):
        export_onnx(tiny_model, tiny_model.spec, tmp_path / "x.onnx", exporter="nope")
    assert not list(tmp_path.iterdir())


def test_default_architecture_exports_with_parity(lively_authors, tmp_path):
    """The authors' network (the default): ready fields on ONNX Runtime match torch; its spec is in the file."""
    lines: list[str] = []
    path = export_onnx(lively_authors, lively_authors.spec, tmp_path / "authors.onnx", log=lines.append)
    assert any(line.startswith("parity ok") for line in lines), lines
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    spec = ModelSpec.from_json(meta[META_SPEC])
    assert spec == lively_authors.spec and spec.architecture == "deepsportlab"
    batch = sample_batch(spec, 1)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    player = sess.run(["player"], {"image": batch})[0]
    assert 0.05 < float((player > 0.5).mean()) < 0.95  # all of the three classes occur: parity is informative
