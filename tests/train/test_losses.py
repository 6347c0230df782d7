"""Losses of Eq. 1-2 (today's "eq2" forms, selected by name) on hand-made tensors with answers worked out by hand."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.errors import InputError  # noqa: E402
from dsl_deploy.train.config import EQ2_LOSS  # noqa: E402
from dsl_deploy.train.losses import (  # noqa: E402
    LossConfig, compute_losses, confidence_loss, localization_loss, offset_loss, semantic_loss, sigma_loss,
)

pytestmark = pytest.mark.torch
NAN = float("nan")
EQ2 = LossConfig(**EQ2_LOSS)


def _batch(b: int = 2, k: int = 19, hs: int = 4, ws: int = 4, hp: int = 2, wp: int = 2):
    """Zero outputs and all-undefined targets of matching shapes."""
    outputs = {"semantic": torch.zeros(b, 1, hs, ws), "offset": torch.zeros(b, 2, hs, ws),
               "pif": torch.zeros(b, k, 5, hp, wp)}
    targets = {"semantic": torch.zeros(b, 1, hs, ws), "offset": torch.full((b, 2, hs, ws), NAN),
               "seg_weight": torch.ones(b, 1, hs, ws), "pif_conf": torch.zeros(b, k, hp, wp),
               "pif_mask": torch.zeros(b, k, hp, wp), "pif_reg": torch.full((b, k, 2, hp, wp), NAN),
               "pif_sigma": torch.full((b, k, hp, wp), NAN)}
    return outputs, targets


def test_default_weights_are_the_papers():
    assert LossConfig().weights() == {"sem": 10.0, "off": 0.1, "cnf": 20.0, "loc": 10.0, "sig": 10.0}


def test_semantic_is_mean_bce_over_non_ignored_pixels():
    logit = torch.tensor([[[[0.0, 2.0], [-1.0, 5.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    weight = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])  # last pixel ignored
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 3
    assert semantic_loss(logit, target, weight).item() == pytest.approx(expected, rel=1e-6)


def test_offset_sums_player_pixels_over_all_pixels():
    off = torch.zeros(1, 2, 2, 2)
    tgt = torch.full((1, 2, 2, 2), NAN)
    tgt[0, :, 0, 0] = torch.tensor([3.0, 4.0])  # error 25 on the one player pixel
    tgt[0, :, 1, 1] = torch.tensor([1.0, 1.0])  # a player pixel that is ignored
    sem = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    weight = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    assert offset_loss(off, tgt, sem, weight).item() == pytest.approx(25.0 / 3)


def test_confidence_is_masked_sum_per_image():
    logit = torch.zeros(2, 19, 2, 2)
    target = torch.zeros(2, 19, 2, 2)
    mask = torch.zeros(2, 19, 2, 2)
    mask[0, 3, 0, 0] = mask[1, 17, 1, 1] = mask[1, 18, 0, 1] = 1.0
    logit[1, 17, 1, 1] = 2.0
    target[1, 17, 1, 1] = 1.0
    expected = (2 * math.log(2) + math.log(1 + math.exp(-2))) / 2
    assert confidence_loss(logit, target, mask).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("form, log_b, expected", [
    ("gaussian", 0.0, 0.25),  # |(0.3, 0.4)|^2 / 1 + 0
    ("gaussian", math.log(2), 0.25 / 4 + math.log(2)),
    ("laplace", 0.0, 0.5),  # |(0.3, 0.4)| / 1 + 0
    ("laplace", math.log(2), 0.5 / 2 + math.log(2)),
])
def test_localization_known_answers(form, log_b, expected):
    reg = torch.zeros(1, 19, 2, 1, 2)
    target = torch.full((1, 19, 2, 1, 2), NAN)
    target[0, 5, :, 0, 1] = torch.tensor([0.3, 0.4])
    lb = torch.full((1, 19, 1, 2), log_b)
    assert localization_loss(reg, lb, target, form).item() == pytest.approx(expected, rel=1e-5)


def test_localization_log_b_is_floored_softly():
    reg = torch.zeros(1, 1, 2, 1, 1)
    target = torch.zeros(1, 1, 2, 1, 1)
    lb = torch.full((1, 1, 1, 1), -50.0, requires_grad=True)
    loss = localization_loss(reg, lb, target, "gaussian", log_b_min=-3.0)
    assert loss.item() == pytest.approx(-3.0, abs=1e-3)
    loss.backward()
    assert torch.isfinite(lb.grad).all()


def test_sigma_is_l1_on_exp_of_log_sigma():
    log_sigma = torch.full((2, 19, 1, 1), math.log(2.0))
    target = torch.full((2, 19, 1, 1), NAN)
    target[0, 0, 0, 0] = 0.5
    target[1, 18, 0, 0] = 3.0
    assert sigma_loss(log_sigma, target).item() == pytest.approx((1.5 + 1.0) / 2, rel=1e-6)


def test_total_is_weighted_sum_and_nan_targets_do_not_leak():
    outputs, targets = _batch()
    for v in outputs.values():
        v.normal_().requires_grad_(True)
    targets["semantic"][0, 0, 1, 1] = 1.0
    targets["offset"][0, :, 1, 1] = torch.tensor([2.0, -1.0])
    targets["pif_mask"][:] = 1.0
    targets["pif_conf"][0, 18, 0, 0] = 1.0
    targets["pif_reg"][0, 18, :, 0, 0] = torch.tensor([0.1, -0.2])
    targets["pif_sigma"][0, 18, 0, 0] = 0.7
    cfg = LossConfig(**EQ2_LOSS, w_sem=1.0, w_off=2.0, w_cnf=3.0, w_loc=4.0, w_sig=5.0)
    losses = compute_losses(outputs, targets, cfg)
    expected = sum(w * losses[n].item() for n, w in zip(("sem", "off", "cnf", "loc", "sig"), (1, 2, 3, 4, 5)))
    assert losses["total"].item() == pytest.approx(expected, rel=1e-6)
    losses["total"].backward()
    for name, v in outputs.items():
        assert torch.isfinite(v.grad).all(), name
    # Only the one present keypoint cell receives a regression gradient.
    reg_grad = outputs["pif"].grad[:, :, 1:3]
    assert (reg_grad != 0).sum().item() == 2


def test_no_keypoints_and_no_players_give_zero_regression_losses():
    outputs, targets = _batch()
    losses = compute_losses(outputs, targets, EQ2)
    assert losses["off"].item() == 0.0 and losses["loc"].item() == 0.0 and losses["sig"].item() == 0.0
    assert losses["sem"].item() == pytest.approx(math.log(2))


def test_shape_mismatch_and_missing_target_raise_input_error():
    outputs, targets = _batch()
    bad = dict(targets, pif_reg=torch.zeros(2, 19, 2, 3, 3))
    with pytest.raises(InputError, match="pif_reg"):
        compute_losses(outputs, bad, EQ2)
    with pytest.raises(InputError, match="pif_sigma"):
        compute_losses(outputs, {k: v for k, v in targets.items() if k != "pif_sigma"}, EQ2)
    with pytest.raises(InputError, match="loc_form"):
        LossConfig(loc_form="huber")
    with pytest.raises(InputError, match="w_sem"):
        LossConfig(w_sem=-1.0)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    reg = torch.randn(1, 2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    lb = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 2, 2, 2, 2, dtype=torch.float64)
    target[0, 0] = NAN
    for form in ("gaussian", "laplace"):
        assert torch.autograd.gradcheck(lambda r, b: localization_loss(r, b, target, form), (reg, lb))
    ls = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    st = torch.rand(1, 2, 2, 2, dtype=torch.float64) + 0.1
    assert torch.autograd.gradcheck(lambda x: sigma_loss(x, st), (ls,))


def test_an_optimizer_step_lowers_the_loss_on_a_fixed_batch():
    from dsl_deploy.model import build_model
    from dsl_deploy.spec import default_spec

    spec = default_spec("resnet18", 65)
    torch.manual_seed(0)
    model = build_model(spec).train()
    outputs, targets = _batch(b=2, hs=65, ws=65, hp=9, wp=9)
    targets["semantic"][:, :, 20:40, 25:35] = 1.0
    targets["offset"][:, 0, 20:40, 25:35] = 30.0 - torch.arange(25, 35, dtype=torch.float32)
    targets["offset"][:, 1, 20:40, 25:35] = (30.0 - torch.arange(20, 40, dtype=torch.float32))[:, None]
    targets["pif_mask"][:] = 1.0
    targets["pif_conf"][:, 18, 3:5, 3:5] = 1.0
    targets["pif_reg"][:, 18, :, 3:5, 3:5] = 0.25
    targets["pif_sigma"][:, 18, 3:5, 3:5] = 0.8
    image = torch.randn(2, 3, 65, 65, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.0)
    before = compute_losses(model(image), targets, EQ2)
    before["total"].backward()
    opt.step()
    with torch.no_grad():
        after = compute_losses(model(image), targets, EQ2)
    assert after["total"].item() < before["total"].item()


def test_pif_divisor_scales_only_the_pif_terms():
    outputs, targets = _batch()
    targets["pif_mask"][:] = 1.0
    targets["pif_reg"][0, 3, :, 1, 1] = 0.5
    targets["pif_sigma"][0, 3, 1, 1] = 2.0
    one = compute_losses(outputs, targets, LossConfig(**EQ2_LOSS, pif_divisor=1.0))
    thousand = compute_losses(outputs, targets, EQ2)
    assert thousand["sem"].item() == one["sem"].item()
    for name in ("cnf", "loc", "sig"):
        assert thousand[name].item() == pytest.approx(one[name].item() / 1000.0, rel=1e-6)
    # With zero outputs: cnf = 19 * 4 cells * 2 images * log 2 / 2 images, Eq. 2 as written.
    assert one["cnf"].item() == pytest.approx(19 * 4 * math.log(2), rel=1e-6)


def test_ball_and_center_weights_scale_only_their_types():
    outputs, targets = _batch(b=1)
    targets["pif_mask"][:] = 1.0
    for k in (3, 17, 18):  # one body part, the ball, a centre: each one present cell
        targets["pif_conf"][0, k, 1, 1] = 1.0
        targets["pif_reg"][0, k, :, 1, 1] = 0.5
        targets["pif_sigma"][0, k, 1, 1] = 2.0
    base = compute_losses(outputs, targets, LossConfig(**EQ2_LOSS, pif_divisor=1.0))
    weighted = compute_losses(outputs, targets, LossConfig(**EQ2_LOSS, pif_divisor=1.0, w_ball=8.0, w_center=3.0))
    assert LossConfig().type_weights(19) is None  # the paper's loss: no per-type factor at all
    assert weighted["sem"].item() == base["sem"].item()
    # Zero outputs give every type the same cnf (4 cells x log 2), loc and sig (one present cell each):
    # the weighted sums count the ball 8 times and the centre 3 times, i.e. 17 + 8 + 3 = 28 type-units.
    for name in ("cnf", "loc", "sig"):
        assert weighted[name].item() == pytest.approx(base[name].item() * 28 / 19 if name == "cnf"
                                                      else base[name].item() * (1 + 8 + 3) / 3, rel=1e-6)
    with pytest.raises(InputError, match="w_ball"):
        LossConfig(w_ball=-1.0)
