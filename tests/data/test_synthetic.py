"""Synthetic scenes: determinism, exact masks and visibility, valid annotations."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.encode import encode_targets
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.errors import DataError
from dsl_deploy.spec import default_spec


def test_deterministic_per_seed_and_index():
    a, b, c = SyntheticScenes(seed=1), SyntheticScenes(seed=1), SyntheticScenes(seed=2)
    img1, ann1 = a[5]
    img2, ann2 = b[5]
    np.testing.assert_array_equal(img1, img2)
    np.testing.assert_array_equal(ann1.instances, ann2.instances)
    np.testing.assert_array_equal(ann1.keypoints, ann2.keypoints)
    assert ann1.ball == ann2.ball
    assert not np.array_equal(img1, c[5][0]) and not np.array_equal(img1, a[6][0])


def test_scene_contents_are_consistent():
    scenes = SyntheticScenes(seed=0, width=321, height=257, length=6)
    assert len(scenes) == 6
    balls = 0
    for i in range(len(scenes)):
        img, ann = scenes[i]
        assert img.shape == (257, 321, 3) and img.dtype == np.uint8
        ann.validate()
        assert 5 <= ann.num_players <= 12
        # Every player has a visible mask; labels are exactly 0..N.
        assert set(np.unique(ann.instances)) == set(range(ann.num_players + 1))
        for n in range(ann.num_players):
            for x, y, v in ann.keypoints[n]:
                if v == 0:
                    assert x == 0 and y == 0
                    continue
                label = ann.instances[int(round(y)), int(round(x))]
                # Visible keypoints lie on their own mask; occluded ones on something else.
                assert (label == n + 1) == (v == 2)
                # Whoever hides a keypoint stands in front: drawn later, so a higher label (0: the ball).
                assert v == 2 or label == 0 or label > n + 1
        if ann.ball is not None:
            balls += 1
            x, y, r = ann.ball
            assert 3.5 <= r <= 9.0 and r <= x <= 320 - r and r <= y <= 256 - r
    assert balls >= 3
    with pytest.raises(IndexError):
        scenes[6]
    assert len(scenes[1:3]) == 2


def test_occlusion_order_front_hides_back():
    _img, ann = SyntheticScenes(seed=3)[0]
    # Later players stand lower in the image (nearer); the foot of the nearest lies below the farthest's.
    feet = [ann.keypoints[n, 15:17, 1].max() for n in range(ann.num_players) if (ann.keypoints[n, 15:17, 2] > 0).all()]
    assert len(feet) >= 2 and feet[-1] >= feet[0]


def test_encodes_at_network_size():
    spec = default_spec("resnet18", 161)
    _img, ann = SyntheticScenes(seed=0, width=161, height=161)[0]
    t = encode_targets(ann, spec)
    assert t["pif_conf"][18].sum() >= 16  # at least one centre


def test_bad_arguments():
    with pytest.raises(DataError, match="too small"):
        SyntheticScenes(width=10)
    with pytest.raises(DataError, match="players"):
        SyntheticScenes(min_players=5, max_players=2)
