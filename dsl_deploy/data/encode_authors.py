"""The authors' training targets (ispgroupucl/DeepSportLab `openpifpaf/encoder/`), beside today's `encode_targets`.

Two rule sets give the same keys, so that every loss form (train/losses.py) can read either:

- `encode_authors_targets` (rules "authors", the default for training), as their encoders build them:
  - crowd (any `Annotation.ignore` region) stays semantic background, trained with weight 1 (`pan.py` with
    ignore_crowd_in_semantic: `seg_weight` is 1 everywhere);
  - only the body-part fields (17 parts and the player centre: their "cifcent" head) are ignored there, on the
    cells of each ignore region's bounding box at stride 8 (`AnnRescaler.bg_mask`); inside such a box a
    keypoint still claims a cell when the cell is nearer than 1 cell (their `fields_reg_l` starts at 1 there),
    and the ball field is never ignored (`cif_ball.py` has no background mask);
  - a zero scale target (two same-type keypoints at one spot clip it to 0) is undefined (NaN), as `cif.py`.
- `with_class_targets` on `encode_targets` (rules "eq2"): today's ignore handling, plus the same class and ball
  targets.

Both add the 3-class semantic target and the ball's offsets (`pan.py` with their thing list person + ball):
- `semantic_class` [1,Hs,Ws]: 0 background, 1 player (visible player pixels), 2 ball (pixels of the ball's disc,
  (x - bx)^2 + (y - by)^2 <= r^2, that no player label covers: a label marks a visible player pixel);
- `offset` [2,Hs,Ws]: player pixels point at their player's centroid as before; ball pixels at the centroid of
  the ball's visible disc pixels (their offsets point at the mask's mean pixel);
- `offset_weight` [1,Hs,Ws]: 1 on the pixels whose offset trains (players and ball), 0 elsewhere.

Body-part and ball scale targets are encode.py's (`authors_scales`, issue 16), unchanged here.
NumPy only (OpenCV for the ignore regions' boxes).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError
from ..spec import CENTER, NUM_BODY_PARTS, ModelSpec
from .annotations import Annotation
from .encode import _pif_assign, _seg_pixels, _seg_targets, encode_targets, keypoint_list

TARGET_RULES = ("authors", "eq2")
SEMANTIC_CLASSES = ("background", "player", "ball")
# Inside an ignore region's box a keypoint claims a cell only when nearer than this (cells), as their encoder.
CROWD_CLAIM_DISTANCE = 1.0
# The types of their "cifcent" head, the only ones their background mask touches.
CROWD_MASKED_TYPES = tuple(range(NUM_BODY_PARTS)) + (CENTER,)


def ball_pixels(ann: Annotation, spec: ModelSpec, labels: np.ndarray) -> np.ndarray:
    """[Hs,Ws] bool: seg-grid pixels on the ball's disc that no player label covers (all False without a ball)."""
    ys, xs = _seg_pixels(spec)
    if ann.ball is None:
        return np.zeros(labels.shape, bool)
    bx, by, r = (float(v) for v in ann.ball)
    disc = (xs[None, :] - bx) ** 2 + (ys[:, None] - by) ** 2 <= r * r
    return disc & (labels == 0)


def crowd_cells(ignore: np.ndarray | None, spec: ModelSpec) -> np.ndarray:
    """[Hp,Wp] bool: PIF cells inside the stride-8 bounding box of a connected ignore region (their bg_mask)."""
    hp, wp = spec.pif_size
    out = np.zeros((hp, wp), bool)
    if ignore is None or not ignore.any():
        return out
    import cv2  # only here: annotations without ignore regions (synthetic scenes) never pay the import

    s = float(spec.pif_stride)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ignore.astype(np.uint8), connectivity=8)
    for x, y, w, h, _area in stats[1:count]:
        # Their box (x, y, w, h) in pixel edges -> cells int(x / s) .. ceil((x + w) / s), at least one cell.
        left, top = min(int(x / s), wp - 1), min(int(y / s), hp - 1)
        right = min(max(int(np.ceil((x + w) / s)), left + 1), wp)
        bottom = min(max(int(np.ceil((y + h) / s)), top + 1), hp)
        out[top:bottom, left:right] = True
    return out


def _class_and_ball(ann: Annotation, spec: ModelSpec, targets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add `semantic_class`, the ball's offsets and `offset_weight` to `targets` (in place; returned)."""
    labels, _, _ = _seg_targets(ann, spec, ann.centers())
    ball = ball_pixels(ann, spec, labels)
    cls = np.where(labels > 0, 1, 0).astype(np.float32)
    cls[ball] = 2.0
    weight = (labels > 0).astype(np.float32)
    if ball.any():
        ys, xs = _seg_pixels(spec)
        # The ball's centre is the mean of its visible pixels at input resolution (as the players' centroids).
        full = ball_pixels(ann, replace(spec, seg_stride=1), ann.instances)
        fy, fx = np.nonzero(full)
        cx, cy = fx.mean(), fy.mean()
        jj, ii = np.nonzero(ball)
        targets["offset"][0, jj, ii] = cx - xs[ii]
        targets["offset"][1, jj, ii] = cy - ys[jj]
        weight[ball] = 1.0
    targets["semantic_class"] = cls[None]
    targets["offset_weight"] = weight[None]
    return targets


def with_class_targets(ann: Annotation, spec: ModelSpec, targets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`targets` of encode_targets (today's rules) with `semantic_class`, the ball's offsets and `offset_weight`."""
    out = _class_and_ball(ann, spec, targets)
    # Today's rules skip ignored pixels of no player: the offset weight follows seg_weight there.
    out["offset_weight"] *= (targets["seg_weight"] > 0)
    return out


def encode_authors_targets(ann: Annotation, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Training targets by the authors' rules (module docstring): encode_targets' keys plus the class targets."""
    t = encode_targets(replace(ann, ignore=None), spec)  # checks the size and pose format
    cells = crowd_cells(ann.ignore, spec)
    if cells.any():
        owner, dist = _pif_assign(keypoint_list(ann, spec, ann.centers()), spec)
        for k in CROWD_MASKED_TYPES:
            box = cells & ~(dist[k] < CROWD_CLAIM_DISTANCE)
            t["pif_mask"][k][box] = 0.0
            t["pif_conf"][k][box] = 0.0
            t["pif_reg"][k][:, box] = np.nan
            t["pif_sigma"][k][box] = np.nan
    # Their encoder leaves a zero joint scale undefined; log(0) would make the log-space loss infinite.
    t["pif_sigma"][t["pif_sigma"] <= 0] = np.nan
    return _class_and_ball(ann, spec, t)


def encode_with_rules(ann: Annotation, spec: ModelSpec, rules: str = "authors") -> dict[str, np.ndarray]:
    """Targets of `ann` by the named rule set: 'authors' (their encoders) or 'eq2' (today's encode_targets)."""
    if rules == "authors":
        return encode_authors_targets(ann, spec)
    if rules == "eq2":
        return with_class_targets(ann, spec, encode_targets(ann, spec))
    raise InputError(f"loss.targets: {rules!r} is not a rule set: expected one of {', '.join(TARGET_RULES)}")
