"""The paper-style (dense NumPy) decoder finds what the contract decoders find on clean fields."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.decode import decode
from dsl_deploy.bench.paper_style import PaperStyleDecoder, maxpool
from dsl_deploy.spec import CENTER, ModelSpec


def test_maxpool_is_the_window_max() -> None:
    m = np.random.default_rng(0).random((6, 8)).astype(np.float32)
    for window in (1, 3, 5):
        r = window // 2
        want = np.array([[m[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].max() for x in range(8)]
                         for y in range(6)])
        np.testing.assert_array_equal(maxpool(m, window), want)


def test_agrees_with_the_reference(make_fields) -> None:
    spec = ModelSpec(backbone="resnet18").with_input_size(129)
    for seed in (0, 1):
        fields = make_fields(np.random.default_rng(seed), 129, 129, 4)
        ref = decode(fields, spec, impl="numpy")
        got = PaperStyleDecoder(spec)(fields)
        assert got.num_players == ref.num_players >= 1
        np.testing.assert_array_equal(got.centers, ref.centers)
        np.testing.assert_allclose(got.scores, ref.scores, atol=1e-5)
        assert (got.labels != ref.labels).mean() < 1e-3
        np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-5)
        assert (got.ball.x, got.ball.y) == (ref.ball.x, ref.ball.y)
        assert set(got.timings) == {"fuse", "maxima", "assign", "poses", "ball", "total"}


def test_empty_frame(make_fields) -> None:
    spec = ModelSpec(backbone="resnet18").with_input_size(65)
    got = PaperStyleDecoder(spec)(make_fields(np.random.default_rng(0), 65, 65, 0, ball=False))
    assert got.num_players == 0 and got.ball is None and not got.labels.any()


def test_fusion_equals_the_authors_float64_steps() -> None:
    """The contract's float32-only weights equal the authors' Cython, which rounds via float64 (x / s2 and
    1 + x/8 in double): float64 holds more than 2 x 24 + 2 bits, so the double rounding is innocuous."""
    from dsl_testing.fields import random_pif

    from dsl_deploy.bench.paper_style import splat_all
    from dsl_deploy.decode.reference import fuse_maps

    rng = np.random.default_rng(3)
    for size in (73, 97):
        spec = ModelSpec(backbone="resnet18").with_input_size(size)
        pif = random_pif(rng, size, size, density=0.5)
        pif[:, 4] = rng.uniform(0.5, 6.0, pif[:, 4].shape)  # sigmas a network gives
        for d in ({}, {"support": "square"}, {"truncate": 2.5}, {"clamp": None}):
            s = spec.with_decoder(d)
            np.testing.assert_array_equal(fuse_maps(pif, size, size, s.decoder), splat_all(pif, size, size, s))


def _scene_fields(n_players: int, seed: int, size: int = 641):
    from dsl_testing.fields import network_like_fields

    from dsl_deploy.data.synthetic import SyntheticScenes

    _, ann = SyntheticScenes(seed, size, size, min_players=n_players, max_players=n_players)[0]
    spec = ModelSpec(backbone="resnet18").with_input_size(size)
    return ann, spec, network_like_fields(ann, spec, np.random.default_rng(seed))


def _truth_players(ann) -> int:
    """Players of the scene the authors' filters keep: > 100 visible pixels and >= 4 labelled parts."""
    areas = np.bincount(ann.instances.ravel(), minlength=ann.num_players + 1)[1:ann.num_players + 1]
    return int(((areas > 100) & ((ann.keypoints[:, :, 2] > 0).sum(1) + 1 >= 5)).sum())


def _best_iou(labels, ann) -> np.ndarray:
    """Per scene player kept by the filters, the best mask IoU of a decoded player."""
    out = []
    areas = np.bincount(ann.instances.ravel(), minlength=ann.num_players + 1)
    for i in range(1, ann.num_players + 1):
        if areas[i] <= 100:
            continue
        truth = ann.instances == i
        out.append(max((np.count_nonzero(truth & (labels == j)) / np.count_nonzero(truth | (labels == j))
                        for j in range(1, labels.max() + 1)), default=0.0))
    return np.asarray(out)


@pytest.mark.parametrize("n_players,seed", [(10, 2), (10, 4), (14, 2), (14, 4)])
def test_noisy_network_like_fields_decode_into_the_scene_players(n_players: int, seed: int) -> None:
    """Each keypoint a 6x6 block of cells, confidences 0.15-0.9, positions scattered 3 px, sigma 1-3 px (what a
    trained network gives): the default decoder finds exactly the scene's players, as the authors' algorithm."""
    ann, spec, fields = _scene_fields(n_players, seed)
    want = _truth_players(ann)
    assert want == n_players
    ours = decode(fields, spec, impl="numpy")
    authors = PaperStyleDecoder(spec)(fields)
    assert ours.num_players == authors.num_players == want
    np.testing.assert_array_equal(ours.labels, authors.labels)
    np.testing.assert_array_equal(ours.keypoints, authors.keypoints)
    assert _best_iou(ours.labels, ann).min() > 0.9
    native = pytest.importorskip("dsl_deploy.decode._native")
    assert native is not None
    got = decode(fields, spec, impl="native")
    np.testing.assert_array_equal(got.labels, ours.labels)
    np.testing.assert_array_equal(got.keypoints, ours.keypoints)


def test_a_clamped_plateau_is_one_player_where_the_authors_split_it() -> None:
    """Sums clamped at 1.0 form plateaus; the authors keep every tied pixel as a centre and split the player,
    the contract keeps one maximum per plateau (its last pixel in raster order)."""
    from dsl_deploy.bench.paper_style import maxpool_peaks
    from dsl_deploy.decode.reference import fuse_maps

    h = w = 129
    spec = ModelSpec(backbone="resnet18").with_input_size(w, h)
    pif = np.zeros((19, 5, 17, 17), np.float32)
    pif[:, 4] = 3.0
    pif[CENTER, :, 5:11, 5:11] = np.float32([0.9, 60.0, 60.0, 1.0, 3.0])[:, None, None]  # 36 x 0.9/16: ~2
    for k in range(4):  # four parts of four seeds each (4 x 0.9 / 16 > 0.1): with the centre, five keypoints
        pif[k, :, 3:5, 6:8] = np.float32([0.9, 50.0 + 5 * k, 35.0, 1.0, 1.0])[:, None, None]
    player = np.zeros((1, h, w), np.float32)
    player[0, 30:90, 45:75] = 0.9
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = np.random.default_rng(0).normal(0.0, 2.0, (2, h, w))  # offsets scatter around the centre
    offset = (np.stack([60.0 - xs, 60.0 - ys]) + noise).astype(np.float32)
    fields = {"player": player, "offset": offset, "pif": pif}
    centre_map = fuse_maps(pif, h, w, spec.decoder)[CENTER]
    plateau = np.flatnonzero(centre_map == 1.0)
    assert plateau.size > 20  # a real plateau
    ours = decode(fields, spec, impl="numpy")
    assert ours.num_players == 1 and ours.centers.tolist() == [[plateau[-1] % w, plateau[-1] // w]]
    assert ours.areas.tolist() == [60 * 30] and (ours.keypoints[0, :4, 2] > 0).all()
    assert len(maxpool_peaks(centre_map, spec.decoder)) == plateau.size  # the authors: one centre per pixel
    assert PaperStyleDecoder(spec)(fields).num_players != 1
