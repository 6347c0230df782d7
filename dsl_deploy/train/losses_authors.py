"""The authors' loss terms (ispgroupucl/DeepSportLab `openpifpaf/network/losses.py`, `panoptic_losses.py`).

Each function is one term with its normalisation as their code computes it; the paper's weights (w_sem 10,
w_off 0.1, w_cnf 20, w_loc 10, w_sig 10) are applied on top by `compute_losses`, as their `--lambdas` do.

- semantic (`DeepLabCE`, hard pixel mining): per-pixel cross-entropy over the 3 classes (background, player,
  ball), times the pixel weight, then the mean of the largest `int(top_k x pixels)` values of the batch (top_k
  0.2); weighted-out pixels count in the number of pixels with a loss of 0, as theirs.
- offset (`PanopticLoss`): squared error of (dy, dx) summed over the weighted pixels (players and ball),
  divided by the weight summed over both channels (2 N), times 0.01.
- confidence (`CompositeLoss._confidence_loss`): BCE times the focal weight (1 + exp(s))^-gamma with s the
  logit on positive cells and minus the logit on negative ones (gamma 1: 1 - p of the true class); the weight
  is not detached, so its gradient flows too. Summed over the cells that are not ignored, / (1000 batch).
- localisation (`laplace_loss`, weight 0.1): 0.694 + log b + |d - d*| / b with log b = 3 tanh(x / 3), summed
  over the cells with a regression target, times 0.1, / (100 batch).
- scale (`logl1_loss`): |x - log scale*| on the raw log output, summed over the cells with a scale target,
  / (100 batch). Our raw `pif` channel 4 is log(0.5 scale) against the target 0.5 scale (`pif_sigma`): the
  difference is the same.

Per-type factors (loss.w_ball, loss.w_center) multiply a type's cells inside the three PIF sums.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError

HARD_PIXEL_TOP_K = 0.2  # their --seman-loss-top-k-percent
OFFSET_FACTOR = 0.01  # their PanopticLoss multiplies the offset loss by this
FOCAL_GAMMA = 1.0  # their --focal-gamma
CONFIDENCE_DIVISOR = 1000.0  # / (1000 batch)
LAPLACE_WEIGHT = 0.1  # weight=0.1 in their _localization_loss
LAPLACE_CONSTANT = 0.694  # their constant term (about log 2)
LOG_B_RANGE = 3.0  # log b = 3 tanh(x / 3)
REGRESSION_DIVISOR = 100.0  # localisation and scale: / (100 batch)


def _per_type(values: torch.Tensor, type_weight: torch.Tensor | None) -> torch.Tensor:
    """values [B,K,H,W] scaled by type_weight [K] (unchanged when None)."""
    if type_weight is None:
        return values
    return values * type_weight.to(values.device, values.dtype)[None, :, None, None]


def hard_pixel_ce(logits: torch.Tensor, classes: torch.Tensor, weight: torch.Tensor,
                  top_k: float = HARD_PIXEL_TOP_K) -> torch.Tensor:
    """Mean of the hardest top_k of the pixels' weighted cross-entropy (logits [B,C,H,W], classes [B,1,H,W]).

    With one logit channel (a player-only network) the two classes are player and the rest (ball included):
    the cross-entropy of logits (0, x) is the BCE of x.
    """
    if not 0.0 < top_k <= 1.0:
        raise InputError(f"loss.sem_top_k: expected a fraction in (0, 1], got {top_k!r}")
    labels = torch.nan_to_num(classes)[:, 0].round().long()
    if logits.shape[1] == 1:
        logits = torch.cat((torch.zeros_like(logits), logits), dim=1)
        labels = (labels == 1).long()
    elif int(labels.max()) >= logits.shape[1]:
        raise InputError(f"semantic target: class {int(labels.max())} but the network has {logits.shape[1]} classes")
    pixels = (F.cross_entropy(logits, labels, reduction="none") * torch.nan_to_num(weight)[:, 0]).reshape(-1)
    if top_k == 1.0:
        return pixels.mean()
    k = max(1, int(top_k * pixels.numel()))
    return torch.topk(pixels, k, sorted=False).values.mean()


def authors_offset_loss(offset: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """0.01 x squared offset error summed over the weighted pixels / (2 x the weight sum); 0 without such pixels."""
    w = torch.nan_to_num(weight).clamp(min=0)
    sq = (offset - torch.nan_to_num(target)) ** 2 * w
    total = 2.0 * w.sum()
    # No weighted pixel: the sum is 0 too; dividing by 1 instead keeps it 0 (their "safe division").
    return OFFSET_FACTOR * sq.sum() / torch.where(total > 0, total, torch.ones_like(total))


def focal_confidence_loss(logit: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                          gamma: float = FOCAL_GAMMA, type_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Focal-weighted BCE summed over the unmasked cells and types, / (1000 batch); the weight keeps its gradient."""
    t = torch.nan_to_num(target)
    bce = F.binary_cross_entropy_with_logits(logit, t, reduction="none")
    if gamma != 0.0:
        s = torch.where(t > 0.5, logit, -logit)
        bce = bce * torch.sigmoid(-s).pow(gamma)  # (1 + exp(s))^-gamma
    m = torch.nan_to_num(mask).clamp(min=0)
    return _per_type(bce * m, type_weight).sum() / (CONFIDENCE_DIVISOR * logit.shape[0])


def laplace_tanh_loss(reg: torch.Tensor, log_b: torch.Tensor, target: torch.Tensor,
                      type_weight: torch.Tensor | None = None) -> torch.Tensor:
    """0.1 x sum of 0.694 + log b + |d - d*| / b (log b = 3 tanh(x / 3)) over cells with a target, / (100 batch).

    reg, target: [B,K,2,H,W] in cell units; log_b: [B,K,H,W].
    """
    present = torch.isfinite(target).all(dim=2)
    diff = reg - torch.nan_to_num(target)
    sq = (diff * diff).sum(dim=2)
    # |d| with the gradient 0 at d = 0, as their torch.norm (sqrt alone gives NaN there); written out because
    # torch's norm over a middle dimension of 2 is ~300x slower on CPU.
    moved = sq > 0
    norm = torch.where(moved, torch.where(moved, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))
    lb = LOG_B_RANGE * torch.tanh(log_b / LOG_B_RANGE)
    per_cell = (LAPLACE_CONSTANT + lb + norm * torch.exp(-lb)) * present
    return LAPLACE_WEIGHT * _per_type(per_cell, type_weight).sum() / (REGRESSION_DIVISOR * reg.shape[0])


def log_scale_loss(log_sigma: torch.Tensor, target: torch.Tensor,
                   type_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of |log sigma - log sigma*| over cells with a positive finite target, / (100 batch)."""
    present = torch.isfinite(target) & (target > 0)
    safe = torch.where(present, target, torch.ones_like(target))
    err = (log_sigma - torch.log(safe)).abs() * present
    return _per_type(err, type_weight).sum() / (REGRESSION_DIVISOR * log_sigma.shape[0])
