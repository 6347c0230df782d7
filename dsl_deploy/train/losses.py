"""The training losses of Eq. 1-2 (Sec. 3.3) with the Sec. 4 weights as defaults.

Each term has a form, chosen by name in the config (`loss.sem_form`, `off_form`, `cnf_form`, `loc_form`,
`sig_form`). The default, "authors", is the term as the authors' code computes it, normalisation included
(train/losses_authors.py: hard-pixel 3-class cross-entropy, offsets / (2 N) x 0.01, focal confidence,
Laplace localisation with log b = 3 tanh(x / 3), log-space scale). The forms below ("eq2", "gaussian",
"laplace") are the earlier ones, Eq. 2 as the paper writes it; `loss.targets` picks the matching target
rules (data/encode_authors.py). All forms are NaN-safe: undefined targets are masked out, never propagated.

The "eq2" forms and their normalisation:

- `sem`: binary cross-entropy on the semantic logit, weighted by `seg_weight` (0 on ignored pixels),
  averaged over the non-ignored pixels of the batch (the 1/P of Eq. 2).
- `off`: squared error ||offset - offset*||^2 in input pixels, summed over player pixels
  (semantic* > 0.5, not ignored, finite target) and divided by the non-ignored pixel count P, as Eq. 2
  writes it; the paper's small w_off = 0.1 is tuned for this 1/P form.
- `cnf`: binary cross-entropy on the PIF confidence logit, summed over cells and types where
  `pif_mask` > 0 (Eq. 2 sums over p, k), divided by the batch size so the scale does not depend on it.
- `loc`: the Gaussian form written in Eq. 2, |d - d*|^2 / b^2 + log b with b = exp(predicted log b),
  summed over the cells where the keypoint is present (`pif_reg` finite), divided by the batch size.
  The Laplace form |d - d*| / b + log b (OpenPifPaf's choice) is `loc_form="laplace"`. Log b is floored
  softly at `log_b_min` (default -3, as OpenPifPaf) so that 1/b^2 cannot explode early in training
  (a hard clamp would stop the gradient below the floor); above the floor log b is used unchanged.
- `sig`: L1 |exp(log sigma) - sigma*| in cell units (the paper predicts log sigma and uses its
  exponential, so the loss compares sigma itself, the quantity Eq. 3 uses), summed over the cells with a
  finite `pif_sigma`, divided by the batch size.

`pif_divisor` (default 1000; 1 gives Eq. 2 exactly as written) divides the three PIF sums of the "eq2" forms
once more (the authors' forms carry their own divisors).
The sums grow with the number of cells (19 x Hp x Wp per image: ~125k at 641 x 641), so with the
paper's weights, where w_cnf (20) and w_sem (10) are of one size, a literal sum would dwarf the per-pixel
means `sem` and `off` by four orders of magnitude and SGD at the paper's lr diverges within steps.
OpenPifPaf, whose PIF losses the paper adapts, divides its sums by 1000 (and by the batch size); the
default follows it, which is what makes the paper's weights balance.

`w_ball` and `w_center` (default 1: the paper's loss) multiply the ball (type 17) and player-centre
(type 18) terms inside the three PIF sums. Each keypoint marks a 4 x 4 block of cells, so an image with
N players has about 16 N positive cells per body part and per centre but only 16 for its one ball: in a
short run from random weights the ball channel gets too little signal to rise above its background.
A weight near the players per image (e.g. 8) gives the ball type the share of a body-part type.

`total` = w_sem sem + w_off off + w_cnf cnf + w_loc loc + w_sig sig (Eq. 1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ..data.encode_authors import TARGET_RULES
from ..errors import InputError
from ..spec import BALL, CENTER
from . import losses_authors as authors

LOSS_NAMES = ("sem", "off", "cnf", "loc", "sig")
# The forms each term may take (the first is the default: the authors').
FORMS = {"sem": ("authors", "eq2"), "off": ("authors", "eq2"), "cnf": ("authors", "eq2"),
         "loc": ("authors", "gaussian", "laplace"), "sig": ("authors", "eq2")}
# exp() of a predicted log sigma above this overflows nothing yet stays far beyond any real keypoint size.
LOG_SIGMA_MAX = 6.0
# Sharpness of the soft floor on log b: the floor changes log b by < 1e-6 one unit above it.
LOG_B_FLOOR_SHARPNESS = 5.0


@dataclass(frozen=True)
class LossConfig:
    """Weights of Eq. 1 (defaults: Sec. 4 of the paper) and the form of the localisation loss."""

    w_sem: float = 10.0
    w_off: float = 0.1
    w_cnf: float = 20.0
    w_loc: float = 10.0
    w_sig: float = 10.0
    sem_form: str = "authors"  # authors: 3-class CE, mean of the hardest sem_top_k pixels | eq2: player BCE, mean
    off_form: str = "authors"  # authors: 0.01 x SSE over player and ball pixels / 2N | eq2: SSE / all pixels
    cnf_form: str = "authors"  # authors: focal BCE (gamma focal_gamma) / 1000B | eq2: BCE / (B pif_divisor)
    loc_form: str = "authors"  # authors: 0.1 x Laplace, log b = 3 tanh(x/3), / 100B | gaussian (Eq. 2) | laplace
    sig_form: str = "authors"  # authors: |log sigma - log sigma*| / 100B | eq2: |sigma - sigma*| / (B pif_divisor)
    targets: str = "authors"  # target rules: authors (crowd = background, body parts ignored there) | eq2
    sem_top_k: float = 0.2  # authors' semantic form: the fraction of hardest pixels averaged
    focal_gamma: float = 1.0  # authors' confidence form: focal exponent (0: plain BCE / 1000B)
    log_b_min: float = -3.0  # soft floor of the predicted log b (cells), gaussian and laplace forms
    pif_divisor: float = 1000.0  # eq2 forms: cnf, loc, sig sums divided by batch size x this (1: Eq. 2 as written)
    w_ball: float = 1.0  # weight of the ball type (17) inside cnf, loc and sig (1: as the paper)
    w_center: float = 1.0  # weight of the player-centre type (18) inside cnf, loc and sig (1: as the paper)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("w_") and not (isinstance(value, (int, float)) and value >= 0):
                raise InputError(f"loss.{f.name}: expected a non-negative number, got {value!r}")
        if not (isinstance(self.pif_divisor, (int, float)) and self.pif_divisor > 0):
            raise InputError(f"loss.pif_divisor: expected a positive number, got {self.pif_divisor!r}")
        for name, forms in FORMS.items():
            value = getattr(self, f"{name}_form")
            if value not in forms:
                raise InputError(f"loss.{name}_form: expected one of {', '.join(forms)}, got {value!r}")
        if self.targets not in TARGET_RULES:
            raise InputError(f"loss.targets: expected one of {', '.join(TARGET_RULES)}, got {self.targets!r}")
        if not (isinstance(self.sem_top_k, (int, float)) and 0 < self.sem_top_k <= 1):
            raise InputError(f"loss.sem_top_k: expected a fraction in (0, 1], got {self.sem_top_k!r}")
        if not (isinstance(self.focal_gamma, (int, float)) and self.focal_gamma >= 0):
            raise InputError(f"loss.focal_gamma: expected a non-negative number, got {self.focal_gamma!r}")

    def weights(self) -> dict[str, float]:
        """Weight of each sub-loss, keyed as LOSS_NAMES."""
        return {name: float(getattr(self, "w_" + name)) for name in LOSS_NAMES}

    def type_weights(self, num_types: int) -> torch.Tensor | None:
        """Per-type factor [num_types] of the PIF sums (ball and centre weights), None when all are 1."""
        if self.w_ball == 1.0 and self.w_center == 1.0:
            return None
        w = torch.ones(num_types)
        w[BALL], w[CENTER] = float(self.w_ball), float(self.w_center)
        return w

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for configs and checkpoints)."""
        return asdict(self)


def _required_targets(cfg: LossConfig) -> tuple[str, ...]:
    """The target tensors the configured forms read."""
    need = ["seg_weight", "offset", "pif_conf", "pif_mask", "pif_reg", "pif_sigma"]
    need.append("semantic_class" if cfg.sem_form == "authors" else "semantic")
    need += ["offset_weight"] if cfg.off_form == "authors" else ["semantic"]
    return tuple(dict.fromkeys(need))


def _check_shapes(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                  names: tuple[str, ...]) -> None:
    o = outputs["offset"]
    if o.dim() != 4 or o.shape[1] != 2:
        raise InputError(f"losses: output 'offset' has shape {tuple(o.shape)}; expected [B,2,Hs,Ws]")
    seg = (o.shape[0], 1) + tuple(o.shape[2:])
    pif = outputs["pif"]
    b, k, _, hp, wp = pif.shape
    expected = {"semantic": seg, "semantic_class": seg, "seg_weight": seg, "offset_weight": seg,
                "offset": tuple(o.shape), "pif_conf": (b, k, hp, wp), "pif_mask": (b, k, hp, wp),
                "pif_reg": (b, k, 2, hp, wp), "pif_sigma": (b, k, hp, wp)}
    for name in names:
        if tuple(targets[name].shape) != expected[name]:
            raise InputError(f"losses: target '{name}' has shape {tuple(targets[name].shape)}; expected "
                             f"{expected[name]} to match the network output")
    if tuple(outputs["semantic"].shape) != seg:
        raise InputError(f"losses: output 'semantic' has shape {tuple(outputs['semantic'].shape)}; expected {seg}")


def semantic_loss(logit: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """BCE with logits, mean over the pixels whose weight is positive (weighted mean)."""
    bce = F.binary_cross_entropy_with_logits(logit, torch.nan_to_num(target), reduction="none")
    w = torch.nan_to_num(weight).clamp(min=0)
    return (bce * w).sum() / w.sum().clamp(min=1.0)


def offset_loss(offset: torch.Tensor, target: torch.Tensor, semantic: torch.Tensor,
                weight: torch.Tensor) -> torch.Tensor:
    """Squared error over player pixels with a finite target, divided by the non-ignored pixel count."""
    w = torch.nan_to_num(weight).clamp(min=0)
    valid = (torch.nan_to_num(semantic) > 0.5) & (w > 0) & torch.isfinite(target).all(dim=1, keepdim=True)
    diff = offset - torch.nan_to_num(target)
    sq = (diff * diff).sum(dim=1, keepdim=True)
    return (sq * valid).sum() / w.sum().clamp(min=1.0)


def _per_type(values: torch.Tensor, type_weight: torch.Tensor | None) -> torch.Tensor:
    """values [B,K,H,W] scaled by type_weight [K] (unchanged when None)."""
    if type_weight is None:
        return values
    return values * type_weight.to(values.device, values.dtype)[None, :, None, None]


def confidence_loss(logit: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                    type_weight: torch.Tensor | None = None) -> torch.Tensor:
    """BCE with logits summed over the unmasked cells and types (each type scaled by type_weight), per image."""
    bce = F.binary_cross_entropy_with_logits(logit, torch.nan_to_num(target), reduction="none")
    m = torch.nan_to_num(mask).clamp(min=0)
    return _per_type(bce * m, type_weight).sum() / logit.shape[0]


def localization_loss(reg: torch.Tensor, log_b: torch.Tensor, target: torch.Tensor,
                      form: str = "gaussian", log_b_min: float = -3.0,
                      type_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Regression loss with a learned scale b, summed over cells whose target is finite, per image.

    reg, target: [B,K,2,H,W] in cell units; log_b: [B,K,H,W].
    """
    present = torch.isfinite(target).all(dim=2)
    diff = reg - torch.nan_to_num(target)
    log_b = log_b_min + F.softplus(log_b - log_b_min, beta=LOG_B_FLOOR_SHARPNESS)
    if form == "gaussian":
        err = (diff * diff).sum(dim=2) * torch.exp(-2.0 * log_b)
    else:
        # sqrt of 0 has an infinite gradient: a tiny epsilon keeps the perfect-prediction case finite.
        err = torch.sqrt((diff * diff).sum(dim=2) + 1e-12) * torch.exp(-log_b)
    return _per_type((err + log_b) * present, type_weight).sum() / reg.shape[0]


def sigma_loss(log_sigma: torch.Tensor, target: torch.Tensor,
               type_weight: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between exp(log sigma) and the target sigma (cell units) where it is finite, per image."""
    present = torch.isfinite(target)
    sigma = torch.exp(log_sigma.clamp(max=LOG_SIGMA_MAX))
    return _per_type((sigma - torch.nan_to_num(target)).abs() * present, type_weight).sum() / log_sigma.shape[0]


def compute_losses(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                   config: LossConfig | None = None) -> dict[str, torch.Tensor]:
    """Sub-losses (unweighted, keyed sem/off/cnf/loc/sig, each in its configured form) and `total` (Eq. 1).

    `outputs` are the raw network outputs (semantic, offset, pif; `semantic_classes` when the network has the
    3-class head), `targets` the batched encoder targets that the forms read (see `_required_targets`).
    """
    cfg = config or LossConfig()
    need = _required_targets(cfg)
    missing = [n for n in ("semantic", "offset", "pif") if n not in outputs]
    missing += [n for n in need if n not in targets]
    if missing:
        raise InputError(f"losses: missing output/target tensors {missing}")
    _check_shapes(outputs, targets, need)
    pif = outputs["pif"]
    tw = cfg.type_weights(pif.shape[1])
    if cfg.sem_form == "authors":
        logits = outputs.get("semantic_classes", outputs["semantic"])
        sem = authors.hard_pixel_ce(logits, targets["semantic_class"], targets["seg_weight"], cfg.sem_top_k)
    else:
        sem = semantic_loss(outputs["semantic"], targets["semantic"], targets["seg_weight"])
    if cfg.off_form == "authors":
        off = authors.authors_offset_loss(outputs["offset"], targets["offset"], targets["offset_weight"])
    else:
        off = offset_loss(outputs["offset"], targets["offset"], targets["semantic"], targets["seg_weight"])
    eq2 = 1.0 / cfg.pif_divisor
    if cfg.cnf_form == "authors":
        cnf = authors.focal_confidence_loss(pif[:, :, 0], targets["pif_conf"], targets["pif_mask"], cfg.focal_gamma,
                                            tw)
    else:
        cnf = confidence_loss(pif[:, :, 0], targets["pif_conf"], targets["pif_mask"], tw) * eq2
    if cfg.loc_form == "authors":
        loc = authors.laplace_tanh_loss(pif[:, :, 1:3], pif[:, :, 3], targets["pif_reg"], tw)
    else:
        loc = localization_loss(pif[:, :, 1:3], pif[:, :, 3], targets["pif_reg"], cfg.loc_form, cfg.log_b_min,
                                tw) * eq2
    if cfg.sig_form == "authors":
        sig = authors.log_scale_loss(pif[:, :, 4], targets["pif_sigma"], tw)
    else:
        sig = sigma_loss(pif[:, :, 4], targets["pif_sigma"], tw) * eq2
    losses = {"sem": sem, "off": off, "cnf": cnf, "loc": loc, "sig": sig}
    weights = cfg.weights()
    losses["total"] = sum(weights[name] * losses[name] for name in LOSS_NAMES)  # type: ignore[assignment]
    return losses
