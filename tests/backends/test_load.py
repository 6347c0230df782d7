"""load_backend: one loader for every artifact, with clear errors for what it cannot open."""
import pytest

from dsl_deploy.backends import artifact_kind, load_backend
from dsl_deploy.errors import ArtifactError


@pytest.mark.parametrize("name, kind", [("m.pth", "checkpoint"), ("m.PT", "checkpoint"), ("m.onnx", "onnx"),
                                        ("m.engine", "engine"), ("m.plan", "engine")])
def test_kind_from_suffix(name, kind):
    assert artifact_kind(name) == kind


@pytest.mark.parametrize("path, message", [
    ("", "the path is empty"),
    ("   ", "the path is empty"),
    ("model.tflite", "unknown artifact type '.tflite'"),
    ("missing.onnx", "missing.onnx: no such file"),
])
def test_errors_name_the_problem(tmp_path, monkeypatch, path, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArtifactError, match=message):
        load_backend(path)
