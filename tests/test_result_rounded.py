"""result.rounded gives Python's round(float(v), n) for every element, bit for bit, so JSON lines stay as they were."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dsl_deploy.result import FrameResult, rounded


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


@pytest.mark.parametrize("ndigits", [2, 3, 5])
def test_rounded_is_pythons_round_on_ties_and_random_values(ndigits: int) -> None:
    rng = np.random.default_rng(ndigits)
    ties = [k / 10 ** ndigits + 0.5 / 10 ** ndigits for k in range(-3000, 3000)]  # near and on decimal ties
    exact_ties = [0.0625, -0.0625, 0.125, 2.5, 0.5, -0.5, 1.5, 2.675, 1.0005, 0.285, 1.005, 4.35, 1e-310, -1e-310]
    specials = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e8, 1e9 + 0.5, 1e12 + 0.125, 2.0 ** 60,
                -1234567.8945]
    pixels = rng.uniform(-50, 2000, 20000).astype(np.float32).astype(np.float64).tolist()  # decoded coordinates
    wide = (rng.standard_normal(5000) * 10.0 ** rng.integers(-8, 10, 5000)).tolist()
    values = ties + exact_ties + specials + pixels + wide
    got = rounded(np.array(values), ndigits)
    for v, g in zip(values, got):
        assert _same(g, round(v, ndigits)), (v, g, round(v, ndigits))


def test_rounded_keeps_the_shape_as_nested_lists() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 7
    got = rounded(a, 3)
    assert got == [[[round(float(v), 3) for v in row] for row in plane] for plane in a]
    assert rounded(np.zeros((0, 17, 3), np.float32), 3) == []


def test_to_dict_numbers_are_rounded_as_before() -> None:
    rng = np.random.default_rng(1)
    n = 6
    labels = np.zeros((40, 40), np.int32)
    for i in range(n):
        labels[i * 6:(i + 1) * 6, :10] = i + 1
    def f32(low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(low, high, shape).astype(np.float32)

    res = FrameResult(labels=labels, keypoints=f32(0, 40, (n, 17, 3)), scores=f32(0, 1, (n,)), boxes=f32(0, 40, (n, 4)),
                      areas=np.full(n, 60), centers=f32(0, 40, (n, 2)), ball=None)
    out = res.to_dict(masks=False)
    for i, p in enumerate(out["players"]):
        assert p["score"] == round(float(res.scores[i]), 5)
        assert p["bbox"] == [round(float(v), 2) for v in res.boxes[i]]
        assert p["center"] == [round(float(v), 2) for v in res.centers[i]]
        assert p["keypoints"] == [[round(float(v), 3) for v in kp] for kp in res.keypoints[i]]
