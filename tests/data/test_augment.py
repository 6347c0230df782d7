"""Augmentation keeps image, masks, keypoints and ball consistent; letterbox agrees with preprocessing."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.augment import hflip, random_augment, resize_to_input, warp
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.errors import DataError
from dsl_deploy.preprocess import Preprocessor, letterbox_params
from dsl_deploy.spec import default_spec


@pytest.fixture(scope="module")
def scene():
    return SyntheticScenes(seed=4, width=200, height=150)[2]


def _own_fraction(ann):
    """Fraction of visible (v = 2) keypoints that lie on their own player's mask."""
    hits = total = 0
    for n in range(ann.num_players):
        for x, y, v in ann.keypoints[n]:
            xi, yi = int(round(x)), int(round(y))
            if v == 2 and 0 <= xi < ann.width and 0 <= yi < ann.height:
                total += 1
                hits += ann.instances[yi, xi] == n + 1
    return hits / max(total, 1), total


def test_flip_twice_is_identity(scene):
    img, ann = scene
    img2, ann2 = hflip(*hflip(img, ann))
    np.testing.assert_array_equal(img2, img)
    np.testing.assert_array_equal(ann2.instances, ann.instances)
    np.testing.assert_allclose(ann2.keypoints, ann.keypoints, atol=1e-4)
    np.testing.assert_allclose(ann2.ball, ann.ball, atol=1e-6)


def test_flip_swaps_left_and_right(make_ann):
    ann = make_ann(keypoints={(0, 9): (40, 30, 2), (0, 10): (70, 31, 1), (0, 0): (55, 20, 2)})
    img = np.zeros((129, 129, 3), np.uint8)
    img[:, :10] = 255
    fimg, f = hflip(img, ann)
    np.testing.assert_allclose(f.keypoints[0, 10], (128 - 40, 30, 2))  # left wrist -> right wrist slot
    np.testing.assert_allclose(f.keypoints[0, 9], (128 - 70, 31, 1))
    np.testing.assert_allclose(f.keypoints[0, 0], (128 - 55, 20, 2))
    assert (f.keypoints[0, 1] == 0).all()  # unlabelled stays unlabelled at (0, 0)
    assert fimg[:, -10:].min() == 255 and f.instances[40, 128 - 50] == 1 and f.instances[40, 128 - 49] == 0
    np.testing.assert_allclose(f.centers()[0], (128 - ann.centers()[0, 0], ann.centers()[0, 1]))


def test_augment_is_consistent_and_seeded(scene):
    img, ann = scene
    spec = default_spec("resnet18", 129)
    before, total = _own_fraction(ann)
    assert before == 1.0 and total > 10
    for seed in range(4):
        out, a = random_augment(img, ann, spec, np.random.default_rng(seed), max_rotation=20)
        a.validate()
        assert out.shape == (129, 129, 3) and a.instances.shape == (129, 129)
        frac, n = _own_fraction(a)
        assert n == 0 or frac >= 0.9  # nearest-neighbour warps move a few mask edges by a pixel
        again, b = random_augment(img, ann, spec, np.random.default_rng(seed), max_rotation=20)
        np.testing.assert_array_equal(out, again)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_warp_moves_points_with_pixels(make_ann):
    ann = make_ann(keypoints={(0, 9): (55, 45, 2)}, ball=(100.0, 20.0, 4.0))
    img = np.zeros((129, 129, 3), np.uint8)
    img[45, 55] = 255
    m = np.array([[2.0, 0.0, 3.0], [0.0, 2.0, -5.0]])
    out, a = warp(img, ann, m, 257, 257)
    np.testing.assert_allclose(a.keypoints[0, 9], (113, 85, 2))
    assert out[85, 113].max() > 0
    np.testing.assert_allclose(a.ball, (203, 35, 8))
    assert (a.instances == 1).sum() == pytest.approx(4 * 400, rel=0.02)


def test_players_cropped_away_are_dropped(make_ann):
    ann = make_ann(boxes=((40, 60, 50, 70), (100, 120, 100, 120)))
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    _out, a = warp(np.zeros((129, 129, 3), np.uint8), ann, m, 90, 90)
    assert a.num_players == 1 and a.instances.max() == 1


def test_resize_to_input_matches_preprocess(scene):
    img, ann = scene
    spec = default_spec("resnet18", 161)
    canvas, a = resize_to_input(img, ann, spec)
    a.validate()
    batch, boxes = Preprocessor(spec)(img)
    mean, std = np.array(spec.input.mean), np.array(spec.input.std)
    rgb = (batch[0].transpose(1, 2, 0) * std + mean) * 255
    np.testing.assert_allclose(rgb[..., ::-1], canvas, atol=0.01)
    lb = letterbox_params(img.shape[1], img.shape[0], 161, 161)
    on = ann.keypoints[..., 2] > 0
    np.testing.assert_allclose(a.keypoints[..., :2][on], lb.to_input(ann.keypoints[..., :2][on]), atol=1e-4)
    np.testing.assert_allclose(lb.to_frame(a.keypoints[..., :2][on]), ann.keypoints[..., :2][on], atol=1e-3)
    # Mask centroids move with the letterbox (to within the resampling of the edges).
    big = np.bincount(a.instances.ravel(), minlength=a.num_players + 1)[1:] >= 100
    assert big.sum() >= 3
    np.testing.assert_allclose(a.centers()[big], lb.to_input(ann.centers())[big], atol=1.0)


def test_bad_input_raises(scene):
    img, ann = scene
    with pytest.raises(DataError, match="image is 100x150"):
        hflip(img[:, :100], ann)
    with pytest.raises(DataError, match="uint8"):
        resize_to_input(img.astype(np.float32), ann, default_spec("resnet18", 129))
    with pytest.raises(DataError, match="scale_range"):
        random_augment(img, ann, default_spec("resnet18", 129), np.random.default_rng(0), scale_range=(0, 1))


def test_crowd_mask_moves_with_the_pixels(make_ann):
    crowd = np.zeros((129, 129), bool)
    crowd[10:20, 30:50] = True
    ann = make_ann()
    ann.crowd, ann.ignore = crowd, crowd.copy()
    img = np.zeros((129, 129, 3), np.uint8)
    _f, f = hflip(img, ann)
    np.testing.assert_array_equal(f.crowd, crowd[:, ::-1])
    _w, w = warp(img, ann, np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), 257, 257)
    assert w.crowd.shape == (257, 257) and w.crowd.sum() == pytest.approx(4 * crowd.sum(), rel=0.05)
    np.testing.assert_array_equal(w.crowd, w.ignore)
