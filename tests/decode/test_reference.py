"""Known answers of the NumPy reference decoder, worked out by hand from the decode contract (the authors' rules)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from dsl_deploy.decode.reference import (assign, decode_reference, find_ball, find_centers, fuse_maps, local_maxima,
                                         nearest_center, poses, select_players)
from dsl_deploy.spec import BALL, CENTER, NUM_TYPES, DecoderSpec


def empty_pif(hp: int = 5, wp: int = 5) -> np.ndarray:
    pif = np.zeros((NUM_TYPES, 5, hp, wp), np.float32)
    pif[:, 4] = 1.0
    return pif


def seed(pif: np.ndarray, k: int, cell: tuple[int, int], c: float, x: float, y: float, sigma: float) -> None:
    j, i = cell
    pif[k, :, j, i] = (c, x, y, 8.0, sigma)


def approx(e: float) -> float:
    return 0.0 if e < -2 or e > 2 else (1 + e / 8) ** 8


def test_disc_splat_matches_the_formula_and_clips_the_corners() -> None:
    pif = empty_pif()
    seed(pif, 3, (1, 1), 0.8, 10.2, 12.0, 2.0)
    fused = fuse_maps(pif, 33, 33, DecoderSpec())
    v = 0.8 / 16
    # bounds: x in [trunc(8.2), trunc(13.2)) = [8, 13), y in [10, 15); then the disc d^2 <= 4
    assert math.isclose(fused[3, 12, 10], v, rel_tol=1e-6)  # nearest pixel: full value
    assert math.isclose(fused[3, 13, 11], v * approx(-(0.8 ** 2 + 1.0) / 8), rel_tol=1e-6)
    assert fused[3, 10, 8] == 0.0  # a corner of the square: d^2 = 2.2^2 + 2^2 > 4
    assert fused[3, 12, 12] > 0.0 and fused[3, 14, 10] == 0.0  # d^2 = 3.24 inside, 4.04 outside
    inside = {(y, x) for y in range(10, 15) for x in range(8, 13) if (x - 10.2) ** 2 + (y - 12.0) ** 2 <= 4.0}
    assert {tuple(p) for p in np.argwhere(fused[3] > 0).tolist()} == inside


def test_square_support_and_true_exp_are_options() -> None:
    pif = empty_pif()
    seed(pif, 3, (1, 1), 0.8, 10.2, 12.0, 2.0)
    fused = fuse_maps(pif, 33, 33, DecoderSpec(support="square", gaussian="exp"))
    assert np.count_nonzero(fused[3]) == 25
    assert math.isclose(fused[3, 10, 8], 0.05 * math.exp(-(2.2 ** 2 + 4) / 8), rel_tol=1e-6)


def test_approx_exp_is_zero_outside_its_range() -> None:
    pif = empty_pif()
    seed(pif, 1, (2, 2), 1.0, 16.0, 16.0, 1.0)  # truncate 3: the disc reaches d^2 = 9, e = -4.5
    fused = fuse_maps(pif, 33, 33, DecoderSpec(truncate=3.0))
    assert math.isclose(fused[1, 16, 18], approx(-2.0) / 16, rel_tol=1e-6)  # e = -2: still inside the range
    assert fused[1, 16, 19] == 0.0 and fused[1, 18, 18] == 0.0  # e = -4.5 and -4: zero


def test_sums_are_clamped_at_one() -> None:
    pif = empty_pif()
    for i in range(5):
        for j in range(4):
            seed(pif, 6, (j, i), 1.0, 16.0, 16.0, 2.0)  # 20 seeds on one pixel: 20/16 unclamped
    fused = fuse_maps(pif, 33, 33, DecoderSpec())
    assert fused[6, 16, 16] == np.float32(1.0)
    unclamped = fuse_maps(pif, 33, 33, DecoderSpec(clamp=None))
    assert math.isclose(unclamped[6, 16, 16], 20 / 16, rel_tol=1e-6)
    assert fused[6].max() == 1.0 and (fused[6] == np.minimum(unclamped[6], 1.0)).all()


def test_sigma_floor_and_border_clipping() -> None:
    pif = empty_pif()
    seed(pif, 0, (0, 0), 1.0, -0.3, 0.0, 0.1)  # sigma floored to 1; support clipped at the left border
    fused = fuse_maps(pif, 33, 33, DecoderSpec())
    nz = np.argwhere(fused[0] > 0)
    assert set(nz[:, 1].tolist()) == {0}  # x in [clip(-1.3) = 0, trunc(1.7)) = [0, 1)
    assert set(nz[:, 0].tolist()) == {0}  # y in [0, 2), but (x=0, y=1) has d^2 = 1.09 > 1: outside the disc
    assert math.isclose(fused[0, 0, 0], 1 / 16, rel_tol=1e-6)
    square = fuse_maps(pif, 33, 33, DecoderSpec(support="square"))
    assert math.isclose(square[0, 1, 0], approx(-1.09 / 2) / 16, rel_tol=1e-6)


def test_exact_mode_is_the_untruncated_sum() -> None:
    pif = empty_pif()
    seed(pif, 5, (2, 2), 0.5, 16.0, 16.0, 3.0)
    seed(pif, 5, (2, 3), 0.4, 20.5, 15.0, 2.0)
    fused = fuse_maps(pif, 33, 33, DecoderSpec(), exact=True)
    ys, xs = np.mgrid[0:33, 0:33]
    want = (0.5 * np.exp(-((xs - 16.0) ** 2 + (ys - 16.0) ** 2) / 18.0)
            + 0.4 * np.exp(-((xs - 20.5) ** 2 + (ys - 15.0) ** 2) / 8.0))
    np.testing.assert_allclose(fused[5], want, rtol=1e-5, atol=1e-7)
    assert fused[5, 0, 0] > 0  # every pixel of the map


def test_seed_threshold_is_strict() -> None:
    pif = empty_pif()
    seed(pif, 2, (1, 1), 0.1, 8.0, 8.0, 2.0)
    assert not fuse_maps(pif, 33, 33, DecoderSpec()).any()  # 0.1 is not above 0.1
    assert fuse_maps(pif, 33, 33, DecoderSpec(strict_thresholds=False)).any()


def test_local_maxima_window_threshold_and_plateau() -> None:
    m = np.zeros((20, 20), np.float32)
    m[2, 2] = 0.5
    m[2, 8] = 0.4  # 6 px from a stronger one: inside its 13x13 window
    m[2, 9] = 0.1  # equal to the threshold: not above it
    m[15, 15] = m[15, 16] = m[16, 15] = 0.7  # a plateau: one maximum, its last pixel in raster order
    idx = local_maxima(m, 0.1, 13)
    assert idx.tolist() == [2 * 20 + 2, 16 * 20 + 15]
    assert local_maxima(m, 0.1, 3).tolist() == [2 * 20 + 2, 2 * 20 + 8, 16 * 20 + 15]
    assert 2 * 20 + 9 in local_maxima(m, 0.1, 1, strict=False).tolist()


def test_centres_capped_by_score_and_listed_in_raster_order() -> None:
    m = np.zeros((30, 30), np.float32)
    m[1, 1], m[1, 20], m[20, 1], m[20, 20] = 0.3, 0.5, 0.5, 0.2
    centers, scores = find_centers(m, DecoderSpec(max_players=3))
    assert centers.tolist() == [[1, 1], [20, 1], [1, 20]]
    np.testing.assert_array_equal(scores, np.float32([0.3, 0.5, 0.5]))


def test_assignment_ties_go_to_the_first_centre_in_raster_order() -> None:
    player = np.zeros((3, 5), np.float32)
    player[1, :] = 1.0
    player[0, 0] = 0.5  # not above the player threshold
    offset = np.zeros((2, 3, 5), np.float32)
    centers = np.float32([[0, 1], [4, 1], [2, 100]])  # (x, y); the third gets no pixel
    labels = assign(player, offset, centers, DecoderSpec())
    assert labels[1].tolist() == [1, 1, 1, 2, 2]  # x=2 is equidistant: the first centre
    assert labels[0].sum() == 0 and labels[2].sum() == 0


def test_keypoint_off_the_mask_joins_its_player_through_the_offsets() -> None:
    h = w = 40
    fused = np.zeros((NUM_TYPES, h, w), np.float32)
    fused[9, 5, 30] = 0.6  # a wrist on the background, two pixels right of player 2's mask
    player = np.zeros((h, w), np.float32)
    player[:, 5:12] = player[:, 20:28] = 0.9
    offset = np.zeros((2, h, w), np.float32)
    offset[0, 5, 30], offset[1, 5, 30] = -6.0, 15.0  # it points at (24, 20), player 2's centre
    centers = np.float32([[8, 20], [24, 20]])
    labels = assign(player, offset, centers, DecoderSpec())
    got = poses(fused, labels, offset, centers, DecoderSpec())
    assert got[1, 9].tolist() == [30.0, 5.0, np.float32(0.6)] and got[0, 9, 2] == 0.0
    own = poses(fused, labels, offset, centers, DecoderSpec(keypoint_assignment="own-mask"))
    assert not own[:, 9, 2].any()  # on no mask: lost


def test_strongest_keypoint_wins_and_the_later_one_on_ties() -> None:
    fused = np.zeros((NUM_TYPES, 40, 40), np.float32)
    fused[0, 5, 5], fused[0, 5, 25], fused[0, 30, 5] = 0.3, 0.5, 0.5
    offset = np.zeros((2, 40, 40), np.float32)
    centers = np.float32([[0, 0]])
    offset[0], offset[1] = -np.arange(40, dtype=np.float32)[None, :], -np.arange(40, dtype=np.float32)[:, None]
    got = poses(fused, np.zeros((40, 40), np.int32), offset, centers, DecoderSpec())
    assert got[0, 0].tolist() == [5.0, 30.0, 0.5]


def test_players_dropped_by_each_filter() -> None:
    labels = np.zeros((20, 20), np.int32)
    labels[0:10, 0:11] = 1  # 110 px
    labels[10:20, 0:10] = 2  # 100 px: not more than 100
    labels[10:20, 10:20] = 3  # 100 px
    labels[0:10, 11:20] = 4  # 90 px
    keypoints = np.zeros((4, 17, 3), np.float32)
    keypoints[0, :4, 2] = 0.5  # 4 parts + the centre = 5: kept
    keypoints[1, :10, 2] = 0.5
    scores = np.float32([0.2, 0.9, 0.5, 0.4])
    kept = select_players(labels, keypoints, scores, DecoderSpec())
    assert kept.tolist() == [0]
    kept = select_players(labels, keypoints, scores, DecoderSpec(discard_mask_pixels=99))
    assert kept.tolist() == [1, 0]  # by score; player 3 has only its centre
    kept = select_players(labels, keypoints, scores, DecoderSpec(discard_mask_pixels=0, min_keypoints=0))
    assert kept.tolist() == [1, 2, 3, 0]


def test_nearest_center_handles_many_pixels_in_chunks() -> None:
    rng = np.random.default_rng(0)
    n = 70_000  # more than one chunk
    xs, ys = rng.integers(0, 300, n), rng.integers(0, 300, n)
    offset = rng.normal(0, 5, (2, 300, 300)).astype(np.float32)
    centers = rng.uniform(0, 300, (7, 2)).astype(np.float32)
    got = nearest_center(xs, ys, offset, centers)
    tx = xs.astype(np.float32) + offset[0, ys, xs]
    ty = ys.astype(np.float32) + offset[1, ys, xs]
    want = np.argmin((centers[None, :, 0] - tx[:, None]) ** 2 + (centers[None, :, 1] - ty[:, None]) ** 2, axis=1)
    np.testing.assert_array_equal(got, want)


def test_ball_first_argmax_and_absent() -> None:
    m = np.zeros((4, 4), np.float32)
    assert find_ball(m) is None
    m[3, 3] = m[0, 3] = 0.7
    ball = find_ball(m)
    assert (ball.x, ball.y) == (3.0, 0.0) and math.isclose(ball.score, 0.7, rel_tol=1e-6)


def test_whole_decode_of_two_players_with_poses() -> None:
    h = w = 41
    pif = empty_pif(6, 6)
    seed(pif, CENTER, (2, 1), 1.0, 8.0, 16.0, 1.0)
    seed(pif, CENTER, (2, 3), 0.9, 30.0, 16.0, 1.0)
    for k in range(4):  # four parts each: with the centre, five keypoints
        seed(pif, k, (1, 1), 1.0, 8.0, 8.0 + k, 1.0)
        seed(pif, k, (1, 4), 1.0, 31.0, 7.0 + k, 1.0)
    seed(pif, 5, (0, 2), 1.0, 20.0, 1.0, 1.0)  # a shoulder on the background: joins the nearest centre
    seed(pif, BALL, (5, 5), 1.0, 40.0, 40.0, 1.0)  # ball in the corner
    player = np.zeros((h, w), np.float32)
    player[4:29, 2:14] = 0.9
    player[4:29, 25:36] = 0.8
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    offset = np.stack([np.where(xs < 19, 8 - xs, 30 - xs), 16 - ys]).astype(np.float32)
    d = replace(DecoderSpec(), keypoint_threshold=0.05)
    r = decode_reference(player, offset, pif, d)
    assert r.num_players == 2
    assert r.centers.tolist() == [[8, 16], [30, 16]]
    np.testing.assert_allclose(r.scores, [1 / 16, 0.9 / 16], rtol=1e-6)
    assert r.boxes.tolist() == [[2, 4, 14, 29], [25, 4, 36, 29]]
    assert r.areas.tolist() == [12 * 25, 11 * 25]
    assert r.keypoints[0, 0].tolist()[:2] == [8, 8] and r.keypoints[1, 3].tolist()[:2] == [31, 10]
    assert r.keypoints[1, 5].tolist()[:2] == [20, 1]  # x=20 + offset 10 lies nearer the second centre
    assert r.ball is not None and (r.ball.x, r.ball.y) == (40.0, 40.0)
    assert set(r.timings) == {"fuse", "maxima", "assign", "poses", "ball", "total"}
    dropped = decode_reference(player, offset, pif, replace(d, min_keypoints=7))
    assert dropped.num_players == 0 and not dropped.labels.any() and dropped.ball is not None


def test_empty_frame() -> None:
    r = decode_reference(np.zeros((17, 17), np.float32), np.zeros((2, 17, 17), np.float32), empty_pif(3, 3),
                         DecoderSpec())
    assert r.num_players == 0 and r.ball is None and not r.labels.any()


def test_local_maxima_equal_the_window_rule_written_out() -> None:
    """The separable running-max form equals the rule pixel by pixel (>= earlier, > later), ties included."""
    rng = np.random.default_rng(0)

    def by_rule(m: np.ndarray, window: int, strict: bool) -> list[int]:
        h, w = m.shape
        r = window // 2
        out = []
        for y in range(h):
            for x in range(w):
                v = m[y, x]
                if not (v > 0.25 if strict else v >= 0.25):
                    continue
                ok = all((v >= m[yy, xx]) if (yy, xx) < (y, x) else (v > m[yy, xx])
                         for yy in range(max(0, y - r), min(h, y + r + 1))
                         for xx in range(max(0, x - r), min(w, x + r + 1)) if (yy, xx) != (y, x))
                if ok:
                    out.append(y * w + x)
        return out

    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 18, 2))
        m = rng.integers(0, 4, (h, w)).astype(np.float32) / 4  # many equal neighbours
        for window in (1, 3, 5, 13):
            for strict in (True, False):
                assert local_maxima(m, 0.25, window, strict).tolist() == by_rule(m, window, strict)
