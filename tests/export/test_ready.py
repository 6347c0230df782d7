"""Ready fields: the exact transform of docs/architecture.md, cell orientation included."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.export import ReadyFields, ready_fields  # noqa: E402

pytestmark = pytest.mark.torch


def test_known_values_and_orientation():
    hp, wp = 3, 5  # not square: a swapped row/column would show
    pif = torch.zeros(1, 19, 5, hp, wp)
    pif[0, 4, 0, 2, 3] = 2.0  # confidence logit of type 4 at row j=2, column i=3
    pif[0, 4, 1, 2, 3] = 0.5  # dx
    pif[0, 4, 2, 2, 3] = -0.25  # dy
    pif[0, 4, 3, 2, 3] = math.log(2.0)  # log b
    pif[0, 4, 4, 2, 3] = math.log(0.5)  # log sigma
    semantic = torch.tensor([[[[0.0, 1.0]]]])
    offset = torch.tensor([[[[3.0, -2.0]], [[1.5, 0.0]]]])
    out = ready_fields({"semantic": semantic, "offset": offset, "pif": pif})
    cell = out["pif"][0, 4, :, 2, 3]
    assert cell.tolist() == pytest.approx([1 / (1 + math.exp(-2)), 8 * 3.5, 8 * 1.75, 16.0, 4.0])
    other = out["pif"][0, 0, :, 1, 4]  # zero logits at row 1, column 4
    assert other.tolist() == pytest.approx([0.5, 32.0, 8.0, 8.0, 8.0])
    assert out["player"].flatten().tolist() == pytest.approx([0.5, 1 / (1 + math.exp(-1))])
    assert torch.equal(out["offset"], offset)


def test_wrapper_returns_outputs_in_spec_order(lively_model):
    x = torch.randn(1, 3, 129, 129)
    with torch.no_grad():
        player, offset, pif = ReadyFields(lively_model)(x)
        expected = ready_fields(lively_model(x))
    assert torch.equal(player, expected["player"]) and torch.equal(offset, expected["offset"])
    assert torch.equal(pif, expected["pif"])
