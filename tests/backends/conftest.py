"""Fixtures for the backend tests: one small checkpoint and its ONNX export, made once per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """(checkpoint path, onnx path) of a seeded resnet18 network at 129x129."""
    torch = pytest.importorskip("torch")
    from dsl_deploy.export import export_onnx
    from dsl_deploy.model import build_model, save_checkpoint
    from dsl_deploy.spec import default_spec

    folder = tmp_path_factory.mktemp("artifacts")
    spec = default_spec("resnet18", 129)
    torch.manual_seed(2)
    model = build_model(spec).eval()
    with torch.no_grad():
        for head in (model.head_nets[0], model.head_nets[2]):  # the PIF heads of the default network
            head.conv.weight.normal_(std=0.3)  # varied fields, so agreement between backends means something
            head.conv.bias.zero_()
    save_checkpoint(folder / "m.pth", model, spec)
    export_onnx(model, spec, folder / "m.onnx", simplify=False)
    return folder / "m.pth", folder / "m.onnx"
