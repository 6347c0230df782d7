"""The authors' loss terms on hand-made tensors, with answers worked out by hand (train/losses_authors.py)."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.errors import InputError  # noqa: E402
from dsl_deploy.train import losses_authors as A  # noqa: E402
from dsl_deploy.train.config import EQ2_LOSS  # noqa: E402
from dsl_deploy.train.losses import (  # noqa: E402
    LossConfig, compute_losses, confidence_loss, localization_loss, offset_loss, semantic_loss, sigma_loss,
)

pytestmark = pytest.mark.torch
NAN = float("nan")
LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


def _pixels(logits: list[list[float]]) -> torch.Tensor:
    """[1, C, 1, P] logits from P rows of C class logits."""
    return torch.tensor(logits).T.reshape(1, len(logits[0]), 1, len(logits))


def test_hard_pixel_ce_is_the_mean_of_the_hardest_pixels():
    # Cross-entropies: (0,0,0) any label -> ln 3; (ln 2,0,0) label 0 -> -ln(2/4) = ln 2, label 1 -> ln 4.
    logits = _pixels([[0, 0, 0], [LN2, 0, 0], [LN2, 0, 0], [0, 0, 0], [0, 0, 0]])
    classes = torch.tensor([[[[2.0, 0.0, 1.0, 1.0, 0.0]]]])
    weight = torch.tensor([[[[1.0, 1.0, 1.0, 0.0, 1.0]]]])  # a weighted-out pixel counts with a loss of 0
    assert A.hard_pixel_ce(logits, classes, weight, 1.0).item() == pytest.approx((2 * LN3 + LN2 + LN4) / 5)
    # 40% of 5 pixels: the two largest, ln 4 and ln 3.
    assert A.hard_pixel_ce(logits, classes, weight, 0.4).item() == pytest.approx((LN4 + LN3) / 2)
    # The default 20% of 5 pixels: the largest alone.
    assert A.hard_pixel_ce(logits, classes, weight).item() == pytest.approx(LN4)
    with pytest.raises(InputError, match="sem_top_k"):
        A.hard_pixel_ce(logits, classes, weight, 0.0)
    with pytest.raises(InputError, match="class 3"):
        A.hard_pixel_ce(logits, classes + 1, weight)


def test_hard_pixel_ce_on_one_logit_is_player_bce_with_the_ball_as_background():
    logit = torch.tensor([[[[2.0, -1.0, 0.5]]]])
    classes = torch.tensor([[[[1.0, 2.0, 0.0]]]])  # player, ball, background
    bce = [math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(-1.0)), math.log(1 + math.exp(0.5))]
    assert A.hard_pixel_ce(logit, classes, torch.ones(1, 1, 1, 3), 1.0).item() == pytest.approx(sum(bce) / 3)


def test_offset_is_squared_error_over_two_n_times_a_hundredth():
    off = torch.zeros(1, 2, 2, 2, requires_grad=True)
    tgt = torch.zeros(1, 2, 2, 2)
    tgt[0, :, 0, 0] = torch.tensor([3.0, 4.0])  # a player pixel: error 25
    tgt[0, :, 1, 1] = torch.tensor([1.0, 0.0])  # a ball pixel: error 1
    tgt[0, :, 0, 1] = torch.tensor([9.0, 9.0])  # weight 0: not counted
    weight = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    loss = A.authors_offset_loss(off, tgt, weight)
    assert loss.item() == pytest.approx(0.01 * 26 / (2 * 2))
    # No weighted pixel: 0, and a gradient of 0 rather than NaN.
    empty = A.authors_offset_loss(off, tgt, torch.zeros_like(weight))
    empty.backward()
    assert empty.item() == 0.0 and torch.equal(off.grad, torch.zeros_like(off))


def test_focal_confidence_known_values_and_its_weight_is_not_detached():
    logit = torch.zeros(2, 19, 1, 1, requires_grad=True)
    target = torch.zeros(2, 19, 1, 1)
    mask = torch.zeros(2, 19, 1, 1)
    target[0, 3] = 1.0
    mask[0, 3] = mask[1, 5] = 1.0
    loss = A.focal_confidence_loss(logit, target, mask)
    # x = 0: BCE ln 2 times the weight (1 + e^0)^-1 = 1/2, on each of the two cells; / (1000 x batch 2).
    assert loss.item() == pytest.approx(2 * 0.5 * LN2 / 2000)
    loss.backward()
    # d/dx [sigmoid(-x) softplus(-x)] at 0 = -1/4 ln 2 - 1/4 for a positive cell (the weight's own gradient is the
    # first part; a detached weight would give -1/4 alone); a negative cell mirrors it.
    g = (-0.25 * LN2 - 0.25) / 2000
    assert logit.grad[0, 3].item() == pytest.approx(g) and logit.grad[1, 5].item() == pytest.approx(-g)
    assert logit.grad[0, 4].item() == 0.0
    # gamma 0 is plain BCE with the same divisor.
    assert A.focal_confidence_loss(logit, target, mask, gamma=0.0).item() == pytest.approx(2 * LN2 / 2000)


def _argmin(values: list[float], xs: torch.Tensor) -> float:
    """The x of the smallest value (a fine grid over a smooth loss with one minimum)."""
    return float(xs[min(range(len(values)), key=values.__getitem__)])


def test_a_cell_positive_95_percent_of_the_time_converges_lower_with_the_focal_weight():
    # Expected loss of one cell labelled 1 with frequency 0.95, over a grid of logits.
    xs = torch.linspace(-2.0, 5.0, 7001, dtype=torch.float64).reshape(1, 1, 1, -1)
    one, zero, mask = torch.ones_like(xs), torch.zeros_like(xs), torch.ones_like(xs)

    def expected(gamma: float) -> list[float]:
        per_cell = [0.95 * A.focal_confidence_loss(xs[..., i:i + 1], one[..., :1], mask[..., :1], gamma)
                    + 0.05 * A.focal_confidence_loss(xs[..., i:i + 1], zero[..., :1], mask[..., :1], gamma)
                    for i in range(0, xs.shape[-1], 7)]
        return [float(v) for v in per_cell]
    grid = xs.flatten()[::7]
    # The focal form settles near p = 0.84, plain BCE at the frequency itself.
    assert torch.sigmoid(torch.tensor(_argmin(expected(1.0), grid))).item() == pytest.approx(0.84, abs=0.005)
    assert torch.sigmoid(torch.tensor(_argmin(expected(0.0), grid))).item() == pytest.approx(0.95, abs=0.002)


def test_a_sparse_channel_settles_near_the_seed_threshold_with_the_focal_weight():
    # The ball's type at 193 x 193: 16 positive cells of 25 x 25. The constant logit that minimises the summed
    # loss, i.e. the level of a network that does not yet tell the ball apart: plain BCE settles at the
    # positive fraction 16 / 625, the focal form (gamma 1) near 0.116, above the decoder's seed threshold 0.1.
    target = torch.zeros(1, 1, 25, 25, dtype=torch.float64)
    target[..., :4, :4] = 1.0
    mask = torch.ones_like(target)
    grid = torch.linspace(-5.0, 0.0, 2001, dtype=torch.float64)

    def level(gamma: float) -> float:
        values = [float(A.focal_confidence_loss(x.expand_as(target), target, mask, gamma)) for x in grid]
        return torch.sigmoid(torch.tensor(_argmin(values, grid))).item()
    assert level(0.0) == pytest.approx(16 / 625, abs=2e-4)
    assert level(1.0) == pytest.approx(0.1165, abs=5e-4)


def test_laplace_known_values_tanh_range_and_best_b():
    reg = torch.zeros(1, 19, 2, 1, 2, requires_grad=True)
    target = torch.full((1, 19, 2, 1, 2), NAN)
    target[0, 5, :, 0, 1] = torch.tensor([0.3, 0.4])  # |d| = 0.5
    target[0, 7, :, 0, 0] = 0.0  # a perfect prediction: |d| = 0
    log_b = torch.zeros(1, 19, 1, 2)
    loss = A.laplace_tanh_loss(reg, log_b, target)
    assert loss.item() == pytest.approx(0.1 * (0.694 + 0.5 + 0.694 + 0.0) / 100)
    loss.backward()
    assert torch.isfinite(reg.grad).all() and reg.grad[0, 7].abs().sum() == 0
    # Away from d = 0 the gradient is the formula's (finite differences, float64).
    r = torch.randn(1, 2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    t = torch.randn(1, 2, 2, 2, 2, dtype=torch.float64)
    t[0, 0, :, 0, 0] = NAN
    assert torch.autograd.gradcheck(lambda x, y: A.laplace_tanh_loss(x, y, t), (r, b))
    # log b is 3 tanh(x / 3): a raw 30 gives 3 tanh(10), i.e. b = e^3 at most.
    big = A.laplace_tanh_loss(reg.detach(), torch.full((1, 19, 1, 2), 30.0), target).item()
    lb = 3 * math.tanh(10.0)
    assert big == pytest.approx(0.1 * (2 * (0.694 + lb) + 0.5 * math.exp(-lb)) / 100)
    # For one cell the loss is lowest at b = |d| (0.5), where the Gaussian form of Eq. 2 is lowest at sqrt(2) |d|.
    one = torch.full((1, 1, 2, 1, 1), NAN)
    one[0, 0, :, 0, 0] = torch.tensor([0.3, 0.4])
    zero = torch.zeros(1, 1, 2, 1, 1)
    xs = torch.linspace(-2.5, 0.5, 3001, dtype=torch.float64)
    authors = [A.laplace_tanh_loss(zero, torch.full((1, 1, 1, 1), float(v)), one).item() for v in xs]
    assert math.exp(3 * math.tanh(_argmin(authors, xs) / 3)) == pytest.approx(0.5, abs=0.005)
    gauss = [localization_loss(zero, torch.full((1, 1, 1, 1), float(v)), one, "gaussian", -10.0).item() for v in xs]
    assert math.exp(_argmin(gauss, xs)) == pytest.approx(0.5 * math.sqrt(2), abs=0.005)


def test_log_scale_is_l1_in_log_space_over_positive_targets():
    log_sigma = torch.full((2, 19, 1, 1), math.log(2.0))
    target = torch.full((2, 19, 1, 1), NAN)
    target[0, 0] = 0.5  # |ln 2 - ln 0.5| = ln 4
    target[1, 18] = 2.0  # exact: 0
    target[1, 3] = 0.0  # a zero target is undefined, as their encoder's
    assert A.log_scale_loss(log_sigma, target).item() == pytest.approx(LN4 / 200)


def _batch(b: int = 1, k: int = 19, hs: int = 4, ws: int = 4, hp: int = 2, wp: int = 2):
    outputs = {"semantic": torch.zeros(b, 1, hs, ws), "semantic_classes": torch.zeros(b, 3, hs, ws),
               "offset": torch.zeros(b, 2, hs, ws), "pif": torch.zeros(b, k, 5, hp, wp)}
    targets = {"semantic": torch.zeros(b, 1, hs, ws), "semantic_class": torch.zeros(b, 1, hs, ws),
               "offset": torch.zeros(b, 2, hs, ws), "offset_weight": torch.zeros(b, 1, hs, ws),
               "seg_weight": torch.ones(b, 1, hs, ws), "pif_conf": torch.zeros(b, k, hp, wp),
               "pif_mask": torch.ones(b, k, hp, wp), "pif_reg": torch.full((b, k, 2, hp, wp), NAN),
               "pif_sigma": torch.full((b, k, hp, wp), NAN)}
    return outputs, targets


def test_the_default_objective_is_the_authors_terms_with_the_papers_weights():
    outputs, targets = _batch()
    targets["semantic_class"][0, 0, 0, :2] = torch.tensor([1.0, 2.0])
    targets["offset"][0, :, 0, 0] = torch.tensor([2.0, 0.0])
    targets["offset_weight"][0, 0, 0, 0] = 1.0
    targets["pif_conf"][0, 18, 0, 0] = 1.0
    targets["pif_reg"][0, 18, :, 0, 0] = torch.tensor([0.3, 0.4])
    targets["pif_sigma"][0, 18, 0, 0] = 0.5
    cfg = LossConfig()
    assert (cfg.sem_form, cfg.off_form, cfg.cnf_form, cfg.loc_form, cfg.sig_form, cfg.targets) == ("authors",) * 6
    got = compute_losses(outputs, targets, cfg)
    # Zero logits: every pixel's CE is ln 3; the hardest 20% of 16 pixels are 3 of them.
    hand = {"sem": LN3, "off": 0.01 * 4 / 2,
            "cnf": 19 * 4 * 0.5 * LN2 / 1000,  # every cell: BCE ln 2 x focal weight 1/2
            "loc": 0.1 * (0.694 + 0.5) / 100, "sig": math.log(2.0) / 100}
    for name, value in hand.items():
        assert got[name].item() == pytest.approx(value, rel=1e-6), name
    weights = {"sem": 10, "off": 0.1, "cnf": 20, "loc": 10, "sig": 10}
    assert got["total"].item() == pytest.approx(sum(weights[n] * hand[n] for n in hand), rel=1e-6)


def test_todays_terms_stay_selectable_by_name():
    outputs, targets = _batch(b=2)
    for v in outputs.values():
        v.normal_()
    targets["semantic"][0, 0, 1, 1] = 1.0
    targets["offset"][0, :, 1, 1] = torch.tensor([2.0, -1.0])
    targets["pif_reg"][0, 3, :, 1, 1] = torch.tensor([0.1, -0.2])
    targets["pif_sigma"][0, 3, 1, 1] = 0.7
    got = compute_losses(outputs, targets, LossConfig(**EQ2_LOSS))
    pif = outputs["pif"]
    hand = {"sem": semantic_loss(outputs["semantic"], targets["semantic"], targets["seg_weight"]),
            "off": offset_loss(outputs["offset"], targets["offset"], targets["semantic"], targets["seg_weight"]),
            "cnf": confidence_loss(pif[:, :, 0], targets["pif_conf"], targets["pif_mask"]) / 1000,
            "loc": localization_loss(pif[:, :, 1:3], pif[:, :, 3], targets["pif_reg"]) / 1000,
            "sig": sigma_loss(pif[:, :, 4], targets["pif_sigma"]) / 1000}
    for name, value in hand.items():
        assert got[name].item() == pytest.approx(value.item(), rel=1e-6), name
    # The eq2 forms read no class or offset-weight target.
    del targets["semantic_class"], targets["offset_weight"]
    compute_losses(outputs, targets, LossConfig(**EQ2_LOSS))
    with pytest.raises(InputError, match="semantic_class"):
        compute_losses(outputs, targets)
    with pytest.raises(InputError, match="sem_form"):
        LossConfig(sem_form="dice")
    with pytest.raises(InputError, match="targets"):
        LossConfig(targets="coco")


def test_ball_and_centre_weights_act_inside_the_authors_pif_terms():
    outputs, targets = _batch()
    for k in (3, 17, 18):
        targets["pif_conf"][0, k, 1, 1] = 1.0
        targets["pif_reg"][0, k, :, 1, 1] = 0.5
        targets["pif_sigma"][0, k, 1, 1] = 2.0
    base = compute_losses(outputs, targets, LossConfig())
    weighted = compute_losses(outputs, targets, LossConfig(w_ball=8.0, w_center=3.0))
    # Zero outputs: every type's cells contribute alike, so the sums count 17 + 8 + 3 types instead of 19
    # (confidence: all types; localisation and scale: the three present types, 1 + 8 + 3 instead of 3).
    assert weighted["cnf"].item() == pytest.approx(base["cnf"].item() * 28 / 19, rel=1e-6)
    for name in ("loc", "sig"):
        assert weighted[name].item() == pytest.approx(base[name].item() * 12 / 3, rel=1e-6)


def test_saved_configs_from_before_the_forms_keep_todays_objective():
    from dsl_deploy.train.config import TrainConfig, from_dict

    old = TrainConfig().to_dict()
    for key in ("sem_form", "off_form", "cnf_form", "sig_form", "targets", "sem_top_k", "focal_gamma"):
        del old["loss"][key]
    old["loss"]["loc_form"] = "laplace"  # a form the old run chose is kept
    loss = from_dict(old).loss
    assert (loss.sem_form, loss.off_form, loss.cnf_form, loss.sig_form, loss.targets) == ("eq2",) * 5
    assert loss.loc_form == "laplace"
    assert from_dict(TrainConfig().to_dict()).loss == LossConfig()


@pytest.mark.parametrize("architecture", ["deepsportlab", "light"])
def test_an_optimizer_step_lowers_the_authors_loss_on_encoded_scenes(architecture):
    import numpy as np

    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.model import build_model
    from dsl_deploy.spec import default_spec
    from dsl_deploy.train.dataset import SampleEncoder

    spec = default_spec("resnet18", 65, architecture)
    scenes = SyntheticScenes(2, 65, 65, length=2)
    samples = [SampleEncoder(spec)(*scenes[i], None) for i in range(2)]
    image = torch.from_numpy(np.stack([s[0] for s in samples]))
    targets = {k: torch.from_numpy(np.stack([s[1][k] for s in samples])) for k in samples[0][1]}
    assert (targets["semantic_class"] == 1).any() and torch.isfinite(targets["pif_sigma"]).any()
    torch.manual_seed(0)
    model = build_model(spec).train()
    for m in model.modules():  # the same forward before and after the step: no dropout draw in between
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.0)
    before = compute_losses(model(image), targets)
    assert all(torch.isfinite(v) for v in before.values())
    before["total"].backward()
    opt.step()
    with torch.no_grad():
        after = compute_losses(model(image), targets)
    assert after["total"].item() < before["total"].item()


def test_the_documented_small_run_trains_the_default_objective():
    from pathlib import Path

    from dsl_deploy.train.config import load_config

    loss = load_config(Path(__file__).resolve().parents[2] / "configs" / "synthetic-small.toml").loss
    default = LossConfig()
    forms = ("sem_form", "off_form", "cnf_form", "loc_form", "sig_form", "targets", "sem_top_k", "focal_gamma")
    assert {f: getattr(loss, f) for f in forms} == {f: getattr(default, f) for f in forms}
    assert loss.weights() == default.weights()
