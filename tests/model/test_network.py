"""The network: output names and shapes per the contract, strides, priors, backbones, weights loading."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.errors import ArtifactError, InputError  # noqa: E402
from dsl_deploy.model import build_model  # noqa: E402
from dsl_deploy.spec import default_spec  # noqa: E402

pytestmark = pytest.mark.torch


def _raw_shapes(spec, batch):
    shapes = spec.output_shapes(batch)
    return {"semantic": shapes["player"], "offset": shapes["offset"], "pif": shapes["pif"]}


def test_outputs_match_spec_shapes(small_model, small_spec):
    x = torch.randn(2, 3, 129, 129)
    with torch.no_grad():
        out = small_model(x)
    assert {k: tuple(v.shape) for k, v in out.items()} == _raw_shapes(small_spec, 2)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in out.values())
    assert small_model.spec == small_spec


def test_untrained_confidence_is_sparse(small_model):
    with torch.no_grad():
        out = small_model(torch.randn(1, 3, 129, 129))
    conf = torch.sigmoid(out["pif"][:, :, 0])
    # The negative bias prior: nearly every cell stays below the decoder's seed threshold.
    assert float((conf >= small_model.spec.decoder.seed_threshold).float().mean()) < 0.01


@pytest.mark.parametrize("backbone,size,seg_stride", [("resnet34", 161, 1), ("resnet18", 145, 4)])
def test_other_backbones_sizes_and_seg_stride(backbone, size, seg_stride):
    from dataclasses import replace
    spec = replace(default_spec(backbone, size), seg_stride=seg_stride)
    model = build_model(spec).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert {k: tuple(v.shape) for k, v in out.items()} == _raw_shapes(spec, 1)


def test_size_not_fitting_strides_warns_and_still_matches(small_spec):
    spec = small_spec.with_input_size(136, 120)  # neither (size-1) % 16 == 0
    model = build_model(spec).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            out = model(torch.randn(1, 3, 120, 136))
    assert any("does not fit the network strides" in str(w.message) for w in caught)
    assert {k: tuple(v.shape) for k, v in out.items()} == _raw_shapes(spec, 1)


@pytest.mark.parametrize("head,index", [("ball_head", 17), ("center_head", 18)])
def test_pif_types_are_in_spec_order(small_model, head, index):
    """Shifting one head's bias must change exactly its type's channel in `pif`."""
    from dsl_deploy.spec import BALL, CENTER, KEYPOINT_TYPES
    assert (BALL, CENTER) == (17, 18) and KEYPOINT_TYPES[index] in ("ball", "player_center")
    conv = getattr(small_model, head).conv
    x = torch.randn(1, 3, 129, 129)
    with torch.no_grad():
        before = small_model(x)["pif"].clone()
        saved = conv.bias.clone()
        conv.bias += 1.0
        after = small_model(x)["pif"]
        conv.bias.copy_(saved)
    changed = (after - before).abs().amax(dim=(0, 2, 3, 4))
    assert changed[index] > 0.5
    assert float(changed[torch.arange(19) != index].max()) == 0.0


def test_wrong_input_shape_is_input_error(small_model):
    with pytest.raises(InputError, match="expected shape"):
        small_model(torch.randn(1, 4, 129, 129))


def test_backbone_weights_from_local_file(tmp_path, small_spec):
    from torchvision import models
    torch.manual_seed(3)
    tv = models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    model = build_model(small_spec, backbone_weights=str(path))
    assert torch.equal(model.backbone.layer3[0].conv1.weight, tv.layer3[0].conv1.weight)

    with pytest.raises(ArtifactError, match="not torchvision resnet18 weights"):
        torch.save(models.resnet34(weights=None).state_dict(), path)
        build_model(small_spec, backbone_weights=str(path))
    with pytest.raises(ArtifactError, match="not found"):
        build_model(small_spec, backbone_weights=str(tmp_path / "missing.pth"))


def test_trains_with_a_batch_of_one(small_spec):
    model = build_model(small_spec.with_input_size(65)).train()
    out = model(torch.randn(1, 3, 65, 65))
    loss = sum(v.float().mean() for v in out.values())
    loss.backward()
    assert model.backbone.conv1.weight.grad is not None and model.aspp.pool[1].weight.grad is not None
