"""model_info: parameter count and FLOPs (2 x MACs of convolutions and matrix products)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.export import model_info  # noqa: E402
from dsl_deploy.spec import default_spec  # noqa: E402

pytestmark = pytest.mark.torch


def test_counts_a_known_convolution():
    spec = default_spec("resnet18", 33)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    info = model_info(conv, spec)
    assert info["params"] == 3 * 8 * 9 + 8
    assert info["flops"] == 2 * 33 * 33 * 8 * 3 * 9
    assert info["input"] == "33x33" and "2 x multiply-accumulates" in info["flops_convention"]


def test_network_cost_grows_with_input_area(lively_model):
    spec = lively_model.spec
    small, large = model_info(lively_model, spec), model_info(lively_model, spec.with_input_size(257))
    assert small["params"] == sum(p.numel() for p in lively_model.parameters()) == large["params"]
    assert 3.0 < large["flops"] / small["flops"] < 4.5  # ~ (257/129)^2 ~ 3.97
    assert not lively_model.training
