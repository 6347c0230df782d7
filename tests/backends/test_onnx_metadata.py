"""An ONNX file's metadata checked when it loads (issue 12, F3/F4): its spec against the graph, and its JSON."""
from __future__ import annotations

from pathlib import Path

import pytest

from dsl_deploy.backends.onnxruntime import OnnxRuntimeBackend
from dsl_deploy.errors import ArtifactError, SpecError
from dsl_deploy.export.metadata import META_FORMAT_VERSION, META_SPEC
from dsl_deploy.spec import default_spec

onnx = pytest.importorskip("onnx", reason="the stand-in models are written with onnx (the train extra)")


def _model(tmp_path: Path, name: str, size: int = 33, **meta: str) -> Path:
    from dsl_testing.onnx_models import tiny_conv_model

    proto = tiny_conv_model(size)
    for entry in list(proto.metadata_props):
        if entry.key in meta:
            proto.metadata_props.remove(entry)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    path = tmp_path / name
    onnx.save(proto, str(path))
    return path


def test_f3_spec_input_size_other_than_the_graphs_is_refused_at_load(tmp_path: Path):
    path = _model(tmp_path, "m.onnx", 193, **{META_SPEC: default_spec("resnet18", 641).to_json()})
    with pytest.raises(ArtifactError) as err:
        OnnxRuntimeBackend(path)
    message = str(err.value)
    assert "m.onnx: the graph's input is [batch, 3, 193, 193]" in message and "3 x 641 x 641" in message
    assert "re-export" in message and "\n" not in message
    OnnxRuntimeBackend(_model(tmp_path, "ok.onnx", 193))  # the matching spec loads


def test_f4_deeply_nested_json_in_onnx_metadata_is_a_spec_error(tmp_path: Path):
    path = _model(tmp_path, "deep.onnx", **{META_SPEC: '{"spec_version": 2, "input": ' + "[" * 50_000
                                             + "]" * 50_000 + "}"})
    with pytest.raises(SpecError, match="deep.onnx metadata: the model spec is nested too deeply"):
        OnnxRuntimeBackend(path)


@pytest.mark.parametrize("version", ["9" * 5000, "1.0", "\u0661", " 1"])
def test_f4_a_5000_digit_or_odd_format_version_in_metadata_is_refused(tmp_path: Path, version: str):
    path = _model(tmp_path, "v.onnx", **{META_FORMAT_VERSION: version})
    with pytest.raises(ArtifactError, match="v.onnx: metadata 'dsl_deploy.format_version' is .*expected an integer"):
        OnnxRuntimeBackend(path)


def test_f4_spec_sizes_as_strings_in_metadata_name_the_field(tmp_path: Path):
    text = default_spec("resnet18", 33).to_json().replace('"width":33', '"width":"33"')
    with pytest.raises(SpecError, match="s.onnx metadata: field 'input.width' is \"33\"; expected an integer"):
        OnnxRuntimeBackend(_model(tmp_path, "s.onnx", **{META_SPEC: text}))


def test_closed_backend_and_fixed_batch_are_refused_with_their_reason() -> None:
    from dsl_deploy.backends.onnx_file import check_runnable
    from dsl_deploy.errors import InputError

    path = Path("m.onnx")
    check_runnable(path, True, None, 7)  # dynamic batch: any size
    check_runnable(path, True, 2, 2)
    with pytest.raises(InputError, match="m.onnx: this backend was closed; open a new one"):
        check_runnable(path, False, None, 1)
    with pytest.raises(InputError, match="m.onnx was exported with a fixed batch of 2, got 3; re-export with a "
                                         "dynamic batch"):
        check_runnable(path, True, 2, 3)
