"""The networks (deepsportlab, light): output names and shapes per the contract, strides, priors, weights."""
from __future__ import annotations

import warnings
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.errors import ArtifactError, InputError, SpecError  # noqa: E402
from dsl_deploy.model import DeepSportLabNet, LightNet, build_model  # noqa: E402
from dsl_deploy.spec import default_spec  # noqa: E402

pytestmark = pytest.mark.torch


def _raw_shapes(spec, batch):
    shapes = spec.output_shapes(batch)
    out = {"semantic": shapes["player"], "offset": shapes["offset"], "pif": shapes["pif"]}
    if spec.architecture == "deepsportlab":
        hs, ws = spec.seg_size
        out.update(semantic_classes=(batch, 3, hs, ws), pif_log_scale=shapes["pif"][:2] + shapes["pif"][3:])
    return out


@pytest.fixture(scope="module")
def light_model():
    torch.manual_seed(0)
    return build_model(default_spec("resnet18", 129, "light")).eval()


def test_architecture_selects_the_network(small_model, light_model):
    assert type(small_model) is DeepSportLabNet and type(light_model) is LightNet
    with pytest.raises(SpecError, match="architecture"):
        build_model(replace(default_spec("resnet18", 65), architecture="heavy"))
    with pytest.raises(SpecError, match="seg_stride"):
        replace(default_spec("resnet18", 65), seg_stride=4).validate()


@pytest.mark.parametrize("which", ["small_model", "light_model"])
def test_outputs_match_spec_shapes(which, request):
    model = request.getfixturevalue(which)
    x = torch.randn(2, 3, 129, 129)
    with torch.no_grad():
        out = model(x)
    assert {k: tuple(v.shape) for k, v in out.items()} == _raw_shapes(model.spec, 2)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize("which", ["small_model", "light_model"])
def test_untrained_confidence_and_players_are_sparse(which, request):
    model = request.getfixturevalue(which)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 129, 129))
    conf = torch.sigmoid(out["pif"][:, :, 0])
    # The negative bias priors: nearly every cell stays below the decoder's seed threshold, few players.
    assert float((conf >= model.spec.decoder.seed_threshold).float().mean()) < 0.01
    assert float((torch.sigmoid(out["semantic"]) > 0.5).float().mean()) < 0.01


def test_deepsportlab_strides_and_batchnorm(small_model):
    """No max-pool, layer4 strided: stages at strides 2/2/4/8/16; every batch norm eps 1e-4, momentum 0.01."""
    with torch.no_grad():
        stages = small_model.base_net(torch.randn(1, 3, 129, 129))
    assert [s.shape[-1] for s in stages] == [65, 65, 33, 17, 9]
    norms = [m for m in small_model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-4 and m.momentum == 0.01 for m in norms)


def test_deepsportlab_raw_semantic_is_player_against_the_strongest_other(small_model):
    with torch.no_grad():
        out = small_model(torch.randn(1, 3, 65, 65))
    classes = out["semantic_classes"]
    expected = classes[:, 1:2] - torch.maximum(classes[:, :1], classes[:, 2:])
    assert torch.equal(out["semantic"], expected)
    assert torch.allclose(out["pif"][:, :, 4], out["pif_log_scale"] - torch.log(torch.tensor(2.0)), atol=1e-6)


@pytest.mark.parametrize("architecture,backbone,size,seg_stride",
                         [("light", "resnet34", 161, 1), ("light", "resnet18", 145, 4),
                          ("deepsportlab", "resnet34", 97, 1)])
def test_other_backbones_sizes_and_seg_stride(architecture, backbone, size, seg_stride):
    spec = replace(default_spec(backbone, size, architecture), seg_stride=seg_stride)
    model = build_model(spec).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert {k: tuple(v.shape) for k, v in out.items()} == _raw_shapes(spec, 1)


@pytest.mark.parametrize("architecture", ["deepsportlab", "light"])
def test_size_not_fitting_strides_warns_and_still_matches(architecture):
    spec = default_spec("resnet18", 129, architecture).with_input_size(136, 120)  # neither (size-1) % 16 == 0
    model = build_model(spec).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            out = model(torch.randn(1, 3, 120, 136))
    assert any("does not fit the network strides" in str(w.message) for w in caught)
    assert {k: tuple(v.shape) for k, v in out.items()} == _raw_shapes(spec, 1)


def _changed_types(model, conv, index=None):
    x = torch.randn(1, 3, 65, 65)
    with torch.no_grad():
        before = model(x)["pif"].clone()
        saved = conv.bias.clone()
        if index is None:
            conv.bias += 1.0
        else:
            conv.bias[index] += 1.0
        after = model(x)["pif"]
        conv.bias.copy_(saved)
    return (after - before).abs().amax(dim=(0, 2, 3, 4))


@pytest.mark.parametrize("head,index", [("ball_head", 17), ("center_head", 18)])
def test_light_pif_types_are_in_spec_order(light_model, head, index):
    """Shifting one head's bias must change exactly its type's channel in `pif`."""
    changed = _changed_types(light_model, getattr(light_model, head).conv)
    assert changed[index] > 0.5
    assert float(changed[torch.arange(19) != index].max()) == 0.0


@pytest.mark.parametrize("head,field,index", [(0, 0, 0), (0, 16, 16), (0, 17, 18), (2, 0, 17)])
def test_deepsportlab_pif_types_are_in_spec_order(small_model, head, field, index):
    """cifcent field f -> type f (centre, field 17 -> type 18); the ball head -> type 17. Its confidence
    channel is shuffle channel `field`, read from conv channels 4 field .. 4 field + 3."""
    conv = small_model.head_nets[head].conv
    changed = _changed_types(small_model, conv, slice(4 * field, 4 * field + 4))
    assert changed[index] > 0.5
    assert float(changed[torch.arange(19) != index].max()) == 0.0


@pytest.mark.parametrize("which", ["small_model", "light_model"])
def test_wrong_input_shape_is_input_error(which, request):
    with pytest.raises(InputError, match="expected shape"):
        request.getfixturevalue(which)(torch.randn(1, 4, 129, 129))


@pytest.mark.parametrize("architecture", ["deepsportlab", "light"])
def test_backbone_weights_from_local_file(tmp_path, architecture):
    from torchvision import models
    spec = default_spec("resnet18", 65, architecture)
    torch.manual_seed(3)
    tv = models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    model = build_model(spec, backbone_weights=str(path))
    layer3 = model.backbone.layer3 if architecture == "light" else model.base_net.net[3]
    assert torch.equal(layer3[0].conv1.weight, tv.layer3[0].conv1.weight)

    with pytest.raises(ArtifactError, match="not torchvision resnet18 weights"):
        torch.save(models.resnet34(weights=None).state_dict(), path)
        build_model(spec, backbone_weights=str(path))
    with pytest.raises(ArtifactError, match="not found"):
        build_model(spec, backbone_weights=str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("architecture", ["deepsportlab", "light"])
def test_trains_with_a_batch_of_one(architecture):
    model = build_model(default_spec("resnet18", 65, architecture)).train()
    out = model(torch.randn(1, 3, 65, 65))
    loss = sum(v.float().mean() for v in out.values())
    loss.backward()
    grads = [p.grad is not None for p in model.parameters()]
    assert all(grads), f"{grads.count(False)} parameters got no gradient"
