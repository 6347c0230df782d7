"""Fixtures for the export tests: a resnet18 network at 129x129 whose heads give varied outputs."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def lively_model():
    """Seeded resnet18 @129 with head weights scaled up, so parity compares fields that actually vary."""
    torch = pytest.importorskip("torch")
    from dsl_deploy.model import build_model
    from dsl_deploy.spec import default_spec

    torch.manual_seed(1)
    model = build_model(default_spec("resnet18", 129)).eval()
    with torch.no_grad():
        for head in (model.body_head, model.ball_head, model.center_head):
            head.conv.weight.normal_(std=0.3)
            head.conv.bias.zero_()
        for final in (model.seg_head.semantic[-1], model.seg_head.offset[-1]):
            final.weight.normal_(std=50.0)
    return model


@pytest.fixture(scope="module")
def exported(lively_model, tmp_path_factory):
    """(path, export log lines) of the lively model exported with the defaults."""
    from dsl_deploy.export import export_onnx

    lines: list[str] = []
    path = export_onnx(lively_model, lively_model.spec, tmp_path_factory.mktemp("onnx") / "m.onnx",
                       log=lines.append)
    return path, lines
