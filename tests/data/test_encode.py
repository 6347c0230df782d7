"""Target encoder and ideal fields on hand-made annotations with known answers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dsl_deploy.data.encode import encode_targets, ideal_fields, instance_scale
from dsl_deploy.errors import DataError
from dsl_deploy.spec import BALL, CENTER


def test_one_keypoint_gives_sixteen_cells_with_known_vectors(spec129, make_ann):
    # Left wrist at (44, 36): cell units (5.5, 4.5) -> columns 4..7, rows 3..6.
    ann = make_ann(keypoints={(0, 9): (44, 36, 2)})
    t = encode_targets(ann, spec129)
    cells = np.argwhere(t["pif_conf"][9] > 0)
    assert len(cells) == 16
    assert set(map(tuple, cells)) == {(j, i) for j in range(3, 7) for i in range(4, 8)}
    for j, i in cells:
        np.testing.assert_allclose(t["pif_reg"][9, :, j, i], (5.5 - i, 4.5 - j))
    # Undefined elsewhere.
    assert np.isnan(t["pif_reg"][9, 0, 0, 0]) and np.isnan(t["pif_sigma"][9, 0, 0])
    # The wrist and the centre are 2 visible keypoints (< 3): the authors' instance scale is 1, so the
    # wrist's scale target is sigma_k cells and pif_sigma (the decoder's width in cells) half of it.
    np.testing.assert_allclose(t["pif_sigma"][9][t["pif_conf"][9] > 0], 0.5 * spec129.sigmas[9], rtol=1e-6)
    # No other body part is encoded.
    assert t["pif_conf"][:17].sum() == 16


def test_shapes_and_dtypes(spec129, make_ann):
    t = encode_targets(make_ann(), spec129)
    hp, wp = spec129.pif_size
    expect = {"semantic": (1, 129, 129), "offset": (2, 129, 129), "seg_weight": (1, 129, 129),
              "pif_conf": (19, hp, wp), "pif_mask": (19, hp, wp), "pif_reg": (19, 2, hp, wp),
              "pif_sigma": (19, hp, wp)}
    assert {k: v.shape for k, v in t.items()} == expect
    assert all(v.dtype == np.float32 for v in t.values())


def test_centre_type_and_offsets_point_to_centroid(spec129, make_ann):
    ann = make_ann(boxes=((40, 60, 50, 70), (80, 100, 10, 30)))
    t = encode_targets(ann, spec129)
    centres = ann.centers()
    np.testing.assert_allclose(centres[0], (59.5, 49.5))
    for n, (y0, y1, x0, x1) in enumerate(((40, 60, 50, 70), (80, 100, 10, 30))):
        ys, xs = np.mgrid[y0:y1, x0:x1]
        np.testing.assert_allclose(xs + t["offset"][0, ys, xs], centres[n, 0], atol=1e-4)
        np.testing.assert_allclose(ys + t["offset"][1, ys, xs], centres[n, 1], atol=1e-4)
    assert (t["offset"][:, t["semantic"][0] == 0] == 0).all()
    assert t["semantic"].sum() == 800
    # Centre keypoint: cells around (59.5/8, 49.5/8) point at the centroid.
    pos = np.argwhere(t["pif_conf"][CENTER] > 0)
    assert len(pos) == 2 * 16
    for j, i in pos:
        x, y = (i + t["pif_reg"][CENTER, 0, j, i]) * 8, (j + t["pif_reg"][CENTER, 1, j, i]) * 8
        d = [np.hypot(x - cx, y - cy) for cx, cy in centres]
        assert min(d) < 1e-4
    # Centre only (1 visible keypoint): scale 1, target 0.1 cells (the centres are 7 cells apart, far enough).
    np.testing.assert_allclose(np.nanmax(t["pif_sigma"][CENTER]), 0.5 * spec129.sigmas[CENTER], rtol=1e-6)


def _pose_points(visible: list[int], unit: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """The authors' reference pose (17 parts + centre) scaled by `unit` cells, y pointing down, and a mask."""
    from dsl_deploy.data.encode import UPRIGHT_POSE
    pts = np.stack([8.0 + unit * UPRIGHT_POSE[:, 0], 30.0 - unit * UPRIGHT_POSE[:, 1]], axis=1)
    vis = np.zeros(18, bool)
    vis[visible] = True
    return pts, vis


def test_instance_scale_known_answers():
    # Whole reference pose, 2 cells per unit: the box is 3.5 x 9.7 units -> sqrt(33.95) * 2 cells, no correction.
    pts, vis = _pose_points(list(range(18)))
    assert instance_scale(pts, vis) == pytest.approx(2 * np.sqrt(3.5 * 9.7))
    # Hips, knees, ankles and the centre: box 2.8 x 5.0 units; the correction sqrt(33.95 / 14.0) (smaller than
    # the 45-degree one) restores the whole pose's scale.
    pts, vis = _pose_points([11, 12, 13, 14, 15, 16, 17])
    assert instance_scale(pts, vis) == pytest.approx(2 * np.sqrt(2.8 * 5.0) * np.sqrt(33.95 / 14.0))
    assert instance_scale(pts, vis) == pytest.approx(2 * np.sqrt(33.95))
    # Nose and eyes: box 0.7 x 0.4 units; both corrections exceed 25, so the factor is clipped at 5.
    pts, vis = _pose_points([0, 1, 2])
    assert instance_scale(pts, vis) == pytest.approx(2 * np.sqrt(0.7 * 0.4) * 5.0)
    # Fewer than 3 visible: 1. Three visible on one spot: below 0.1, undefined (NaN).
    assert instance_scale(pts, _pose_points([0, 17])[1]) == 1.0
    assert np.isnan(instance_scale(np.zeros((18, 2)), _pose_points([0, 5, 6])[1]))


def test_scale_targets_follow_the_authors_encoder(spec129, make_ann):
    # A player with the whole reference pose at 2 cells per unit (16 px): every part's target is
    # sigma_k * 2 sqrt(33.95) cells, except where another player's same part is nearer than 4x that.
    pts, _ = _pose_points(list(range(18)))
    kps = {(0, k): (8 * pts[k, 0], 8 * pts[k, 1], 2) for k in range(17)}
    kps[(1, 9)] = (8 * pts[9, 0] + 8.0, 8 * pts[9, 1], 2)  # another player's left wrist, 1 cell to the right
    # Player 0's mask: a 21 x 21 box centred on the pose's centre point, pixel (64, 160).
    cx, cy = 8 * pts[17, 0], 8 * pts[17, 1]
    ann = make_ann(size=289, boxes=((int(cy) - 10, int(cy) + 11, int(cx) - 10, int(cx) + 11), (250, 260, 250, 260)),
                   keypoints=kps)
    spec = spec129.with_input_size(289)
    t = encode_targets(ann, spec)
    full = 2 * np.sqrt(3.5 * 9.7)
    for k in (0, 5, 15):
        np.testing.assert_allclose(t["pif_sigma"][k][t["pif_conf"][k] > 0], 0.5 * spec.sigmas[k] * full, rtol=1e-5)
    # The centre (mask centroid = the pose's centre point) with the 17 parts: the same instance scale.
    centre = t["pif_sigma"][CENTER][np.isfinite(t["pif_sigma"][CENTER])]
    assert 0.5 * spec.sigmas[CENTER] * full == pytest.approx(centre.max(), rel=1e-5)
    # Left wrists 1 cell apart: player 0's target is min(0.062 * 11.65, 0.25 * 1 cell) = 0.25; player 1 has two
    # visible keypoints (wrist, centre), so scale 1 and min(0.062, 0.25) = 0.062. pif_sigma is half of each.
    wrist = t["pif_sigma"][9][t["pif_conf"][9] > 0]
    assert set(np.round(wrist.astype(float), 6)) == {0.125, 0.031}


def test_nearer_keypoint_wins_shared_cells(spec129, make_ann):
    # Two left wrists 2 cells apart share cells; each cell must point to the nearer one.
    ann = make_ann(boxes=((40, 60, 50, 70), (80, 100, 10, 30)),
                          keypoints={(0, 9): (40, 40, 2), (1, 9): (56, 40, 1)})
    t = encode_targets(ann, spec129)
    pos = np.argwhere(t["pif_conf"][9] > 0)
    assert len(pos) < 32
    for j, i in pos:
        x = i + t["pif_reg"][9, 0, j, i]
        assert x == pytest.approx(5.0 if abs(i - 5.0) <= abs(i - 7.0) else 7.0)  # ties: first listed


def test_invisible_keypoints_not_encoded_and_ball(spec129, make_ann):
    ann = make_ann(keypoints={(0, 0): (30, 30, 0)}, ball=(100.0, 20.0, 5.0))
    t = encode_targets(ann, spec129)
    assert t["pif_conf"][0].sum() == 0
    assert t["pif_conf"][BALL].sum() == 16
    # The authors' ball rescaler gives every ball scale 1, times their ball sigma 0.2: whatever its radius.
    np.testing.assert_allclose(t["pif_sigma"][BALL][t["pif_conf"][BALL] > 0], 0.5 * 0.2, rtol=1e-6)


def test_ignore_regions_mask_cells_and_pixels(spec129, make_ann):
    ignore = np.zeros((129, 129), bool)
    ignore[0:64, 0:129] = True
    ann = make_ann(keypoints={(0, 9): (44, 36, 2)}, ignore=ignore)
    t = encode_targets(ann, spec129)
    # Player pixels stay supervised; the rest of the ignored band does not.
    assert t["seg_weight"][0, 45, 55] == 1 and t["seg_weight"][0, 10, 10] == 0 and t["seg_weight"][0, 100, 10] == 1
    assert t["pif_mask"][0, 1, 1] == 0 and t["pif_mask"][0, 12, 1] == 1
    # Positive cells are kept even inside the ignore region.
    assert (t["pif_mask"][9][t["pif_conf"][9] > 0] == 1).all()


def test_seg_stride_4(spec129, make_ann):
    spec = dataclasses.replace(spec129, seg_stride=4)
    ann = make_ann()
    t = encode_targets(ann, spec)
    assert t["semantic"].shape == (1, 33, 33)
    # Cell i at pixel 4i: rows 40..59 -> cells 10..14, cols 50..69 -> 13..17.
    assert t["semantic"][0, 10:15, 13:18].all() and t["semantic"].sum() == 25
    np.testing.assert_allclose(t["offset"][0, 10, 13], 59.5 - 52)


def test_wrong_size_raises(spec129, make_ann):
    ann = make_ann(size=97)
    with pytest.raises(DataError, match="97x97 differs"):
        encode_targets(ann, spec129)
    with pytest.raises(DataError, match="97x97"):
        ideal_fields(ann, spec129)


def test_ideal_fields_positions_equal_keypoints(spec129, make_ann):
    ann = make_ann(keypoints={(0, 9): (44, 36, 2), (0, 0): (60, 45, 1)}, ball=(100.0, 20.0, 5.0))
    f = ideal_fields(ann, spec129)
    t = encode_targets(ann, spec129)
    assert f["pif"].shape == (19, 5) + spec129.pif_size and f["pif"].dtype == np.float32
    pos = t["pif_conf"] > 0
    assert ((f["pif"][:, 0] > 0) == pos).all()
    for k, (x, y) in ((9, (44, 36)), (0, (60, 45)), (BALL, (100, 20))):
        np.testing.assert_allclose(f["pif"][k, 1][pos[k]], x)
        np.testing.assert_allclose(f["pif"][k, 2][pos[k]], y)
        # Ideal fields keep the OKS size sigma_k * sqrt(area) (area: mask pixels, pi r^2 for the ball).
        size = {9: np.sqrt(400), 0: np.sqrt(400), BALL: np.sqrt(np.pi * 25)}[k]
        np.testing.assert_allclose(f["pif"][k, 4][pos[k]], spec129.sigmas[k] * size, rtol=1e-6)
    c = f["pif"][9, 0]
    # Peaks at the cells nearest the keypoint, decays over the neighbourhood, all in (0, 1].
    assert c.max() == c[4:6, 5:7].max() and c[3, 4] < c[4, 5] and 0 < c[pos[9]].min() and c.max() <= 1
    np.testing.assert_array_equal(f["player"], t["semantic"])
    np.testing.assert_array_equal(f["offset"], t["offset"])


def test_ideal_fields_noise_is_reproducible(spec129, make_ann):
    ann = make_ann(keypoints={(0, 9): (44, 36, 2)})
    a = ideal_fields(ann, spec129, noise=0.2, rng=np.random.default_rng(3))
    b = ideal_fields(ann, spec129, noise=0.2, rng=np.random.default_rng(3))
    c = ideal_fields(ann, spec129, noise=0.2, rng=np.random.default_rng(4))
    clean = ideal_fields(ann, spec129)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["pif"], c["pif"]) and not np.array_equal(a["pif"], clean["pif"])
    assert 0 <= a["pif"][:, 0].min() and a["pif"][:, 0].max() <= 1
    # Background confidence stays under the default seed threshold.
    assert a["pif"][:, 0][clean["pif"][:, 0] == 0].max() < spec129.decoder.seed_threshold
    with pytest.raises(DataError, match="noise"):
        ideal_fields(ann, spec129, noise=-1)


def test_ideal_fields_soft_edges_and_stride4(spec129, make_ann):
    ann = make_ann()
    soft = ideal_fields(ann, spec129, soft_edges=True)["player"][0]
    assert soft[50, 60] == pytest.approx(1.0, abs=1e-3) and 0 < soft[50, 49] < 1 and soft[5, 5] == 0
    f = ideal_fields(ann, dataclasses.replace(spec129, seg_stride=4))
    assert f["player"].shape == (1, 33, 33) and f["offset"].shape == (2, 33, 33)


def test_data_modules_stay_off_torch():
    import subprocess
    import sys

    code = ("import sys\n"
            "import dsl_deploy.data.encode, dsl_deploy.data.synthetic, dsl_deploy.data.augment\n"
            "import dsl_deploy.data.coco, dsl_deploy.data.deepsport, dsl_deploy.data.mixed\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
