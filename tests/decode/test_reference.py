"""Known answers of the NumPy reference decoder, worked out by hand from the decode contract."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from dsl_deploy.decode.reference import (assign, decode_reference, find_ball, find_centers, fuse_maps, local_maxima,
                                         renumber)
from dsl_deploy.spec import BALL, CENTER, NUM_TYPES, DecoderSpec


def empty_pif(hp: int = 5, wp: int = 5) -> np.ndarray:
    pif = np.zeros((NUM_TYPES, 5, hp, wp), np.float32)
    pif[:, 4] = 1.0
    return pif


def seed(pif: np.ndarray, k: int, cell: tuple[int, int], c: float, x: float, y: float, sigma: float) -> None:
    j, i = cell
    pif[k, :, j, i] = (c, x, y, 8.0, sigma)


def test_truncated_splat_matches_the_formula() -> None:
    pif = empty_pif()
    seed(pif, 3, (1, 1), 0.8, 10.2, 12.0, 2.0)
    fused = fuse_maps(pif, 33, 33, DecoderSpec())
    v = 0.8 / 16
    # support x in [floor(8.2), floor(12.2) + 1) = [8, 13), y in [10, 15)
    nz = np.argwhere(fused[3] > 0)
    assert nz[:, 0].min() == 10 and nz[:, 0].max() == 14 and nz[:, 1].min() == 8 and nz[:, 1].max() == 12
    assert math.isclose(fused[3, 12, 10], v, rel_tol=1e-6)  # nearest pixel: full value
    expect = v * math.exp(-((11 - 10.2) ** 2 + (13 - 12.0) ** 2) / 8.0)
    assert math.isclose(fused[3, 13, 11], expect, rel_tol=1e-6)
    assert np.count_nonzero(fused) == 25


def test_sigma_floor_and_border_clipping() -> None:
    pif = empty_pif()
    seed(pif, 0, (0, 0), 1.0, -0.3, 0.0, 0.1)  # sigma floored to 1; support clipped at the left border
    fused = fuse_maps(pif, 33, 33, DecoderSpec())
    nz = np.argwhere(fused[0] > 0)
    assert set(nz[:, 1].tolist()) == {0}  # x in [clip(floor(-1.3)), floor(0.7) + 1) = [0, 1)
    assert set(nz[:, 0].tolist()) == {0, 1}  # y in [clip(floor(-1)), floor(1) + 1) = [0, 2)
    assert math.isclose(fused[0, 1, 0], math.exp(-(0.3 ** 2 + 1) / 2) / 16, rel_tol=1e-6)
    assert math.isclose(fused[0, 0, 0], 1 / 16, rel_tol=1e-6)


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


def test_seeds_below_threshold_do_not_splat() -> None:
    pif = empty_pif()
    seed(pif, 2, (1, 1), 0.09, 8.0, 8.0, 2.0)
    assert not fuse_maps(pif, 33, 33, DecoderSpec()).any()


def test_local_maxima_tie_goes_to_the_first_in_raster_order() -> None:
    m = np.zeros((5, 6), np.float32)
    m[2, 2] = m[2, 3] = 0.5  # equal neighbours: (2, 2) wins
    m[0, 5] = 0.3  # corner, window clipped
    m[4, 0] = 0.05  # below threshold
    idx = local_maxima(m, 0.1, 3)
    assert idx.tolist() == [5, 2 * 6 + 2]


def test_centres_by_score_then_raster_order_and_capped() -> None:
    m = np.zeros((9, 9), np.float32)
    m[1, 1], m[1, 7], m[7, 1], m[7, 7] = 0.3, 0.5, 0.5, 0.2
    centers, scores = find_centers(m, DecoderSpec(max_players=3))
    assert centers.tolist() == [[7, 1], [1, 7], [1, 1]]
    np.testing.assert_array_equal(scores, np.float32([0.5, 0.5, 0.3]))


def test_assignment_ties_go_to_the_lowest_centre_and_empty_instances_are_dropped() -> None:
    player = np.zeros((3, 5), np.float32)
    player[1, :] = 1.0
    player[0, 0] = 0.49  # below the player threshold
    offset = np.zeros((2, 3, 5), np.float32)
    centers = np.float32([[0, 1], [4, 1], [2, 100]])  # (x, y); the third gets no pixel
    labels = assign(player, offset, centers, 0.5)
    assert labels[1].tolist() == [1, 1, 1, 2, 2]  # x=2 is equidistant: lowest j
    assert labels[0].sum() == 0 and labels[2].sum() == 0
    centers2 = np.float32([[2, 100], [0, 1], [4, 1]])
    labels2 = assign(player, offset, centers2, 0.5)
    kept = renumber(labels2, 3)
    assert kept.tolist() == [1, 2] and labels2[1].tolist() == [1, 1, 1, 2, 2]


def test_ball_first_argmax_and_absent() -> None:
    m = np.zeros((4, 4), np.float32)
    assert find_ball(m) is None
    m[3, 3] = m[0, 3] = 0.7
    ball = find_ball(m)
    assert (ball.x, ball.y) == (3.0, 0.0) and math.isclose(ball.score, 0.7, rel_tol=1e-6)


def test_whole_decode_of_two_players_with_poses() -> None:
    h = w = 33
    pif = empty_pif()
    seed(pif, CENTER, (2, 1), 1.0, 8.0, 16.0, 1.0)
    seed(pif, CENTER, (2, 3), 0.9, 24.0, 16.0, 1.0)
    seed(pif, 0, (1, 1), 1.0, 8.0, 10.0, 1.0)  # nose on player 1
    seed(pif, 0, (1, 3), 1.0, 25.0, 9.0, 1.0)  # nose on player 2
    seed(pif, 0, (0, 2), 1.0, 16.0, 1.0, 1.0)  # nose on background: ignored
    seed(pif, BALL, (4, 4), 1.0, 32.0, 32.0, 1.0)  # ball in the corner
    player = np.zeros((h, w), np.float32)
    player[4:29, 2:14] = 0.9
    player[4:29, 19:30] = 0.8
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    offset = np.stack([np.where(xs < 16, 8 - xs, 24 - xs), 16 - ys]).astype(np.float32)
    d = replace(DecoderSpec(), keypoint_threshold=0.05)
    r = decode_reference(player, offset, pif, d)
    assert r.num_players == 2
    assert r.centers.tolist() == [[8, 16], [24, 16]]
    np.testing.assert_allclose(r.scores, [1 / 16, 0.9 / 16], rtol=1e-6)
    assert r.boxes.tolist() == [[2, 4, 14, 29], [19, 4, 30, 29]]
    assert r.areas.tolist() == [12 * 25, 11 * 25]
    assert r.keypoints[0, 0].tolist()[:2] == [8, 10] and r.keypoints[1, 0].tolist()[:2] == [25, 9]
    assert (r.keypoints[:, 1:, 2] == 0).all()
    assert r.ball is not None and (r.ball.x, r.ball.y) == (32.0, 32.0)
    assert set(r.timings) == {"fuse", "maxima", "assign", "poses", "ball", "total"}


def test_empty_frame() -> None:
    r = decode_reference(np.zeros((17, 17), np.float32), np.zeros((2, 17, 17), np.float32), empty_pif(3, 3),
                         DecoderSpec())
    assert r.num_players == 0 and r.ball is None and not r.labels.any()
