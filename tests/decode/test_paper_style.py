"""The paper-style (dense NumPy) decoder finds what the contract decoders find on clean fields."""
from __future__ import annotations

import numpy as np

from dsl_deploy.decode import decode
from dsl_deploy.decode.paper_style import PaperStyleDecoder, maxpool
from dsl_deploy.spec import ModelSpec


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
