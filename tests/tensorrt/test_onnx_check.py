"""ONNX-side validation before a build: file, format, spec metadata and the I/O contract."""
from __future__ import annotations

from pathlib import Path

import pytest

from dsl_deploy.errors import ArtifactError, SpecError
from dsl_deploy.export.metadata import META_SPEC
from dsl_deploy.tensorrt.onnx_check import inspect_onnx
from dsl_deploy.tensorrt.sidecar import sha256_file


def _with_spec_json(source: Path, spec_json: str, path: Path) -> Path:
    """A copy of `source` whose spec metadata is `spec_json`."""
    import onnx

    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == META_SPEC:
            prop.value = spec_json
    onnx.save(model, str(path))
    return path


def test_valid_model(tiny_onnx):
    info = inspect_onnx(tiny_onnx)
    assert info.spec.input.width == 33 and info.spec.backbone == "resnet18"
    assert info.input_name == "image" and info.input_shape[1:] == (3, 33, 33)
    assert set(info.outputs) == {"player", "offset", "pif"}
    assert info.sha256 == sha256_file(tiny_onnx)


def test_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="absent.onnx: no such file"):
        inspect_onnx(tmp_path / "absent.onnx")


def test_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf\n" * 20)
    with pytest.raises(ArtifactError, match="notes.onnx: not (a readable )?(an )?ONNX model"):
        inspect_onnx(path)


def test_onnx_without_spec_metadata(make_onnx):
    path = make_onnx(with_spec=False)
    with pytest.raises(ArtifactError, match="no 'dsl_deploy.spec' metadata.*dsl-export"):
        inspect_onnx(path)


def test_wrong_input_name(make_onnx):
    path = make_onnx(input_name="input")
    with pytest.raises(ArtifactError, match="expected an input named 'image', found \\['input'\\]"):
        inspect_onnx(path)


def test_bad_spec_metadata(tmp_path, tiny_onnx):

    path = _with_spec_json(tiny_onnx, '{"spec_version": 99}', tmp_path / "future.onnx")
    with pytest.raises(SpecError, match="future.onnx metadata 'dsl_deploy.spec'.*newer"):
        inspect_onnx(path)


def test_spec_size_disagrees_with_input(tmp_path, tiny_onnx):

    from dsl_deploy.spec import default_spec

    path = _with_spec_json(tiny_onnx, default_spec("resnet18", 49).to_json(), tmp_path / "mismatch.onnx")
    with pytest.raises(ArtifactError, match=r"input 'image' has shape \['B', 3, 33, 33\]; expected \[B, 3, 49, 49\]"):
        inspect_onnx(path)


def test_onnxruntime_fallback_reads_the_same(tiny_onnx):
    from dsl_deploy.tensorrt.onnx_check import _read_graph, _read_with_onnxruntime

    meta_a, inputs_a, outputs_a = _read_graph(tiny_onnx)
    meta_b, inputs_b, outputs_b = _read_with_onnxruntime(tiny_onnx)
    assert meta_a["dsl_deploy.spec"] == meta_b["dsl_deploy.spec"]
    assert inputs_a["image"][1:] == inputs_b["image"][1:] == (3, 33, 33)
    assert outputs_a == outputs_b


def _set_meta(source: Path, key: str, value: str, path: Path) -> Path:
    import onnx

    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            break
    else:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_uint8_input_file_is_read_in_its_layout(tiny_onnx, tmp_path):
    from dsl_deploy.export.metadata import INPUT_FLOAT, INPUT_UINT8, META_INPUT_FORMAT
    from dsl_deploy.export.uint8_input import write_uint8_model

    assert inspect_onnx(tiny_onnx).input_format == INPUT_FLOAT
    info = inspect_onnx(write_uint8_model(tiny_onnx, tmp_path / "u8.onnx"))
    assert info.input_format == INPUT_UINT8 and info.input_shape[1:] == (33, 33, 3)
    assert info.input_dims(2, 33, 33) == (2, 33, 33, 3) and inspect_onnx(tiny_onnx).input_dims(2, 33, 33) == (2, 3, 33, 33)
    # A float graph whose metadata claims uint8 frames, and an unknown format, are refused by name.
    with pytest.raises(ArtifactError, match=r"expected \[B, 33, 33, 3\].*uint8 frames"):
        inspect_onnx(_set_meta(tiny_onnx, META_INPUT_FORMAT, INPUT_UINT8, tmp_path / "claims-u8.onnx"))
    with pytest.raises(ArtifactError, match="dsl_deploy.input_format"):
        inspect_onnx(_set_meta(tiny_onnx, META_INPUT_FORMAT, "rgba-planar", tmp_path / "odd.onnx"))
