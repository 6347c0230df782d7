"""Target encoder (Sec. 3.3): an Annotation at the network input size -> training targets and ideal fields.

Geometry follows docs/architecture.md: PIF cell (j, i) sits at input pixel (8i, 8j); the segmentation grid
is the input (stride 1) or cell i at pixel 4i (stride 4). Scale targets follow the authors' encoder
(`openpifpaf/encoder/annrescaler.py`, `cif.py`): see `authors_scales`. The ideal fields keep the OKS size:
sigma_k times the square root of the instance area (the visible mask's pixel count, pi r^2 for the ball).
NumPy only: this module is imported by decoder tests and benchmarks that must not pull in torch.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..spec import BALL, CENTER, NUM_BODY_PARTS, NUM_TYPES, ModelSpec
from .annotations import Annotation

# Cells per side of the neighbourhood each keypoint supervises (Sec. 3.3: 16 = 4 x 4 cells).
SIDE = 4
# Width, in cells, of the Gaussian that shapes the ideal confidence over the 4x4 neighbourhood.
IDEAL_CONF_WIDTH = 1.2
# Scale parameter b of the ideal fields, input pixels (a well-trained network is confident to ~1 px).
IDEAL_B = 1.0


def _check_size(ann: Annotation, spec: ModelSpec) -> None:
    """The encoder works at the network input size only; anything else is a caller bug worth naming."""
    h, w = spec.input.height, spec.input.width
    if (ann.height, ann.width) != (h, w):
        raise DataError(f"annotation {ann.image_id or '<unnamed>'}: size {ann.width}x{ann.height} differs from "
                        f"the network input {w}x{h}; resize it first (data.augment.resize_to_input)")
    if ann.pose_format != "coco":
        raise DataError(f"annotation {ann.image_id or '<unnamed>'}: pose_format {ann.pose_format!r} cannot be "
                        "encoded; only 'coco' (17 keypoints) poses train the network")


def _seg_pixels(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Input-pixel (y, x) coordinates of the segmentation grid's rows and columns."""
    hs, ws = spec.seg_size
    s = spec.seg_stride
    return np.arange(hs) * s, np.arange(ws) * s


def _instance_areas(ann: Annotation) -> np.ndarray:
    """[N] visible-mask pixel count of each player."""
    return np.bincount(ann.instances.ravel(), minlength=ann.num_players + 1)[1:ann.num_players + 1].astype(np.float64)


def keypoint_list(ann: Annotation, spec: ModelSpec, centers: np.ndarray | None = None
                  ) -> list[tuple[int, float, float, float]]:
    """Every keypoint to encode as (type, x, y, sigma in input pixels); visibility-0 keypoints are left out."""
    out: list[tuple[int, float, float, float]] = []
    areas = _instance_areas(ann)
    centers = ann.centers() if centers is None else centers
    for n in range(ann.num_players):
        area = areas[n]
        if area <= 0:
            # No visible pixel: no centre, and no scale to size the body parts with; use the keypoint box.
            vis = ann.keypoints[n, :, 2] > 0
            if not vis.any():
                continue
            pts = ann.keypoints[n, vis, :2]
            span = pts.max(0) - pts.min(0)
            area = float(max(span[0] * span[1], 1.0))
        scale = float(np.sqrt(area))
        for k in range(NUM_BODY_PARTS):
            x, y, v = ann.keypoints[n, k]
            if v > 0:
                out.append((k, float(x), float(y), spec.sigmas[k] * scale))
        if areas[n] > 0:
            out.append((CENTER, float(centers[n, 0]), float(centers[n, 1]), spec.sigmas[CENTER] * scale))
    if ann.ball is not None:
        bx, by, r = ann.ball
        out.append((BALL, float(bx), float(by), spec.sigmas[BALL] * float(np.sqrt(np.pi)) * float(r)))
    return out


# The authors' reference pose (their COCO_UPRIGHT_POSE, x and y of the 17 body parts, then the player centre):
# their AnnRescaler compares the box of a player's visible keypoints with the box of the same keypoints here.
UPRIGHT_POSE = np.array([
    (0.0, 9.3), (-0.35, 9.7), (0.35, 9.7), (-0.7, 9.5), (0.7, 9.5), (-1.4, 8.0), (1.4, 8.0), (-1.75, 6.0),
    (1.75, 6.2), (-1.75, 4.0), (1.75, 4.2), (-1.26, 4.0), (1.26, 4.0), (-1.4, 2.0), (1.4, 2.1), (-1.4, 0.0),
    (1.4, 0.1), (0.0, 5.0),
])
_ROT45 = np.array([[np.cos(np.pi / 4), -np.sin(np.pi / 4)], [np.sin(np.pi / 4), np.cos(np.pi / 4)]])
UPRIGHT_POSE_45 = UPRIGHT_POSE @ _ROT45.T
# Their ball head's rescaler (AnnRescalerBall) gives every ball the scale 1, times the ball's sigma in their
# constants (0.2): the ball's scale target in stride units, whatever its size.
BALL_SCALE = 0.2
MAX_CORRECTION = 5.0  # their clip of the visibility correction factor


def _box_area(points: np.ndarray) -> float:
    span = points.max(axis=0) - points.min(axis=0)
    return float(span[0] * span[1])


def instance_scale(points: np.ndarray, visible: np.ndarray) -> float:
    """The authors' instance scale (AnnRescaler.scale for the 18 cifcent keypoints), in stride units.

    `points` [18, 2] in stride units (17 body parts, centre), `visible` [18] bool. Fewer than 3 visible: 1.
    Else sqrt of the visible keypoints' box area, times the correction sqrt(reference pose box / reference box
    of the same keypoints, the smaller of upright and rotated by 45 degrees) clipped at 5; NaN when no
    reference box exceeds 0.1 or the scale is below 0.1.
    """
    if int(visible.sum()) < 3:
        return 1.0
    ratios = []
    for pose in (UPRIGHT_POSE, UPRIGHT_POSE_45):
        ref = _box_area(pose[visible])
        ratios.append(_box_area(pose) / ref if ref > 0.1 else np.inf)
    factor = float(np.sqrt(min(ratios)))
    if np.isinf(factor):
        return float("nan")
    scale = float(np.sqrt(_box_area(points[visible]))) * min(MAX_CORRECTION, factor)
    return scale if scale >= 0.1 else float("nan")


def authors_scales(ann: Annotation, spec: ModelSpec, centers: np.ndarray | None = None) -> np.ndarray:
    """Scale target (stride units) of every entry of `keypoint_list`, in its order, as the authors' encoder.

    Body part or centre k of a player: min(instance_scale * sigma_k, 0.25 * the distance to the nearest
    visible keypoint of type k of another player); the ball: BALL_SCALE. The decoder's Gaussian width is
    0.5 * scale * stride (their decoder, and our ready fields).
    """
    stride = float(spec.pif_stride)
    centers = ann.centers() if centers is None else centers
    areas = _instance_areas(ann)
    n = ann.num_players
    pts = np.zeros((n, NUM_BODY_PARTS + 1, 2))
    vis = np.zeros((n, NUM_BODY_PARTS + 1), bool)
    if n:
        pts[:, :NUM_BODY_PARTS] = ann.keypoints[:, :, :2] / stride
        vis[:, :NUM_BODY_PARTS] = ann.keypoints[:, :, 2] > 0
        pts[:, NUM_BODY_PARTS] = np.nan_to_num(centers) / stride
        vis[:, NUM_BODY_PARTS] = areas > 0
    sigmas = np.asarray(spec.sigmas[:NUM_BODY_PARTS] + (spec.sigmas[CENTER],))
    out: list[float] = []
    for p in range(n):
        if not vis[p].any():
            continue
        scale = instance_scale(pts[p], vis[p])
        for k in range(NUM_BODY_PARTS + 1):
            if not vis[p, k]:
                continue
            others = [q for q in range(n) if q != p and vis[q, k]]
            nearest = min((float(np.hypot(*(pts[q, k] - pts[p, k]))) for q in others), default=np.inf)
            out.append(min(scale * sigmas[k], 0.25 * nearest) if not np.isnan(scale) else float("nan"))
    if ann.ball is not None:
        out.append(BALL_SCALE)
    return np.asarray(out, np.float64)


def _pif_assign(kps: list[tuple[int, float, float, float]], spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per type and cell: index into `kps` of the nearest keypoint whose 4x4 neighbourhood covers it.

    Returns (owner [19,Hp,Wp] int, -1 where none; distance [19,Hp,Wp] in cells).
    """
    hp, wp = spec.pif_size
    stride = spec.pif_stride
    owner = np.full((NUM_TYPES, hp, wp), -1, np.int64)
    dist = np.full((NUM_TYPES, hp, wp), np.inf, np.float64)
    for idx, (k, x, y, _sigma) in enumerate(kps):
        cx, cy = x / stride, y / stride
        # The 4 cells nearest on each axis: two on each side of the keypoint.
        i0, j0 = int(np.floor(cx)) - SIDE // 2 + 1, int(np.floor(cy)) - SIDE // 2 + 1
        i1, j1 = min(i0 + SIDE, wp), min(j0 + SIDE, hp)
        i0, j0 = max(i0, 0), max(j0, 0)
        if i0 >= i1 or j0 >= j1:
            continue
        d = np.hypot(np.arange(i0, i1)[None, :] - cx, np.arange(j0, j1)[:, None] - cy)
        sub_d = dist[k, j0:j1, i0:i1]
        win = d < sub_d
        sub_d[win] = d[win]
        owner[k, j0:j1, i0:i1][win] = idx
    return owner, dist


def _seg_targets(ann: Annotation, spec: ModelSpec, centers: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels [Hs,Ws] sampled on the seg grid, semantic [1,Hs,Ws], offset [2,Hs,Ws])."""
    s = spec.seg_stride
    labels = ann.instances[::s, ::s] if s > 1 else ann.instances
    ys, xs = _seg_pixels(spec)
    semantic = (labels > 0).astype(np.float32)[None]
    offset = np.zeros((2,) + labels.shape, np.float32)
    if ann.num_players:
        table = np.concatenate([np.zeros((1, 2), np.float32), np.nan_to_num(centers)], 0)
        on = labels > 0
        cx, cy = table[labels, 0], table[labels, 1]
        offset[0] = np.where(on, cx - xs[None, :], 0.0)
        offset[1] = np.where(on, cy - ys[:, None], 0.0)
    return labels, semantic, offset


def encode_targets(ann: Annotation, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Training targets of Sec. 3.3 for one annotation at the network input size (all float32)."""
    _check_size(ann, spec)
    centers = ann.centers()
    labels, semantic, offset = _seg_targets(ann, spec, centers)
    seg_weight = np.ones_like(semantic)
    if ann.ignore is not None:
        # Annotated players are never ignored, even where a crowd region overlaps them.
        s = spec.seg_stride
        ign = ann.ignore[::s, ::s].astype(bool) & (labels == 0)
        seg_weight[0][ign] = 0.0

    hp, wp = spec.pif_size
    stride = spec.pif_stride
    kps = keypoint_list(ann, spec, centers)
    owner, _ = _pif_assign(kps, spec)
    pos = owner >= 0
    conf = pos.astype(np.float32)
    mask = np.ones((NUM_TYPES, hp, wp), np.float32)
    if ann.ignore is not None:
        cell_ign = ann.ignore[np.ix_(np.arange(hp) * stride, np.arange(wp) * stride)].astype(bool)
        mask[:, cell_ign] = 0.0
        mask[pos] = 1.0
    reg = np.full((NUM_TYPES, 2, hp, wp), np.nan, np.float32)
    sigma = np.full((NUM_TYPES, hp, wp), np.nan, np.float32)
    if kps:
        # pif_sigma: the decoder's Gaussian width in cells, 0.5 x the authors' scale target.
        table = np.asarray([[x / stride, y / stride] for _k, x, y, _s in kps], np.float64)
        half_scale = 0.5 * authors_scales(ann, spec, centers)
        kk, jj, ii = np.nonzero(pos)
        o = owner[kk, jj, ii]
        reg[kk, 0, jj, ii] = table[o, 0] - ii
        reg[kk, 1, jj, ii] = table[o, 1] - jj
        sigma[kk, jj, ii] = half_scale[o]
    return {"semantic": semantic, "offset": offset, "seg_weight": seg_weight, "pif_conf": conf,
            "pif_mask": mask, "pif_reg": reg, "pif_sigma": sigma}


def ideal_fields(ann: Annotation, spec: ModelSpec, *, rng: np.random.Generator | None = None,
                 noise: float = 0.0, soft_edges: bool = False) -> dict[str, np.ndarray]:
    """The ready fields (player, offset, pif; no batch dim) a perfect network would give for `ann`.

    Confidence peaks near each keypoint and decays over its 4x4 cells, as a trained network's does.
    `noise` > 0 perturbs positions (std `noise` cells), confidences, player probabilities and offsets,
    reproducibly from `rng` (default: a generator seeded with 0). `soft_edges` blurs the player map's
    boundary over about one pixel.
    """
    _check_size(ann, spec)
    if noise < 0:
        raise DataError(f"ideal_fields: noise must be >= 0, got {noise}")
    centers = ann.centers()
    labels, semantic, offset = _seg_targets(ann, spec, centers)
    player = semantic.copy()
    if soft_edges:
        import cv2  # only here: keeps the plain path free of the OpenCV import cost in tight loops

        player[0] = cv2.GaussianBlur(player[0], (3, 3), 0.7)
    hp, wp = spec.pif_size
    stride = spec.pif_stride
    kps = keypoint_list(ann, spec, centers)
    owner, dist = _pif_assign(kps, spec)
    pos = owner >= 0
    jgrid, igrid = np.meshgrid(np.arange(hp, dtype=np.float32), np.arange(wp, dtype=np.float32), indexing="ij")
    pif = np.empty((NUM_TYPES, 5, hp, wp), np.float32)
    pif[:, 0] = np.where(pos, np.exp(-0.5 * (dist / IDEAL_CONF_WIDTH) ** 2), 0.0)
    # Cells with nothing to say point at themselves with a one-cell size, as an untrained head roughly does.
    pif[:, 1] = igrid * stride
    pif[:, 2] = jgrid * stride
    pif[:, 3] = IDEAL_B
    pif[:, 4] = float(stride)
    if kps:
        table = np.asarray([[x, y, s] for _k, x, y, s in kps], np.float32)
        kk, jj, ii = np.nonzero(pos)
        o = owner[kk, jj, ii]
        pif[kk, 1, jj, ii] = table[o, 0]
        pif[kk, 2, jj, ii] = table[o, 1]
        pif[kk, 4, jj, ii] = table[o, 2]
    if noise > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        pif[:, 1:3] += (noise * stride * rng.standard_normal((NUM_TYPES, 2, hp, wp))).astype(np.float32)
        c = pif[:, 0] * (1.0 + noise * 0.3 * rng.standard_normal((NUM_TYPES, hp, wp)))
        # Background clutter stays under the default seed threshold for noise <= 1: realistic sparsity.
        c += noise * 0.09 * rng.random((NUM_TYPES, hp, wp))
        pif[:, 0] = np.clip(c, 0.0, 1.0)
        player = np.clip(player + noise * 0.2 * rng.standard_normal(player.shape), 0.0, 1.0).astype(np.float32)
        offset = (offset + noise * 2.0 * rng.standard_normal(offset.shape) * (labels > 0)).astype(np.float32)
    return {"player": player.astype(np.float32), "offset": offset.astype(np.float32), "pif": pif}
