"""Fixtures for the decoder tests: a small structured-field generator (players, poses, ball) and specs."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.spec import BALL, CENTER, NUM_BODY_PARTS, NUM_TYPES, ModelSpec


def splat_keypoint(pif: np.ndarray, k: int, x: float, y: float, rng: np.random.Generator,
                   conf: float = 0.9, sigma: float = 2.0, noise: float = 0.3, reach: int = 2) -> None:
    """Write the cells around (x, y) of type k as a network would: confidence falls off, vectors point at it."""
    hp, wp = pif.shape[2:]
    ci, cj = int(round(x / 8)), int(round(y / 8))
    for j in range(max(0, cj - reach), min(hp, cj + reach + 1)):
        for i in range(max(0, ci - reach), min(wp, ci + reach + 1)):
            d2 = ((8 * i - x) ** 2 + (8 * j - y) ** 2) / 64.0
            c = conf * np.exp(-d2 / 2.0)
            if c > pif[k, 0, j, i]:
                pif[k, :, j, i] = (c, x + rng.normal(0, noise), y + rng.normal(0, noise), 8.0, sigma)


def make_fields(rng: np.random.Generator, height: int, width: int, n_players: int, *, ball: bool = True,
                noise: float = 0.3) -> dict[str, np.ndarray]:
    """Ready fields (no batch dim) of n elliptic players with body parts around their centres and a ball."""
    hp, wp = (height - 1) // 8 + 1, (width - 1) // 8 + 1
    player = np.zeros((1, height, width), np.float32)
    offset = np.zeros((2, height, width), np.float32)
    pif = np.zeros((NUM_TYPES, 5, hp, wp), np.float32)
    pif[:, 4] = 1.0
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(n_players):
        rx, ry = rng.uniform(4, max(5, width / 14)), rng.uniform(8, max(9, height / 7))
        cx, cy = rng.uniform(rx, width - 1 - rx), rng.uniform(ry, height - 1 - ry)
        inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
        player[0][inside] = rng.uniform(0.6, 1.0)
        offset[0][inside] = cx - xs[inside] + rng.normal(0, noise, inside.sum())
        offset[1][inside] = cy - ys[inside] + rng.normal(0, noise, inside.sum())
        splat_keypoint(pif, CENTER, cx, cy, rng, conf=rng.uniform(0.5, 1.0), sigma=rng.uniform(1.5, 4), noise=noise)
        for k in range(NUM_BODY_PARTS):
            kx = np.clip(cx + rng.uniform(-rx, rx), 0, width - 1)
            ky = np.clip(cy + ry * (k / NUM_BODY_PARTS * 2 - 1) * 0.9, 0, height - 1)
            splat_keypoint(pif, k, kx, ky, rng, conf=rng.uniform(0.3, 1.0), sigma=rng.uniform(0.5, 3), noise=noise)
    if ball:
        splat_keypoint(pif, BALL, rng.uniform(0, width - 1), rng.uniform(0, height - 1), rng, sigma=1.5, noise=noise)
    return {"player": player, "offset": offset, "pif": pif}


@pytest.fixture
def small_spec() -> ModelSpec:
    """A 129x129 spec with the default decoder parameters."""
    return ModelSpec(backbone="resnet18").with_input_size(129)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator."""
    return np.random.default_rng(1234)


def tie_mask(player: np.ndarray, offset: np.ndarray, centers: np.ndarray, threshold: float) -> np.ndarray:
    """Player pixels whose two nearest centres (Eq. 4, float32) are exactly as far: labels may differ there."""
    h, w = player.shape
    mask = np.zeros((h, w), bool)
    if centers.shape[0] < 2:
        return mask
    ys, xs = np.nonzero(player >= np.float32(threshold))
    tx = xs.astype(np.float32) + offset[0, ys, xs]
    ty = ys.astype(np.float32) + offset[1, ys, xs]
    d = (centers[None, :, 0] - tx[:, None]) ** 2 + (centers[None, :, 1] - ty[:, None]) ** 2
    d.sort(axis=1)
    mask[ys, xs] = d[:, 0] == d[:, 1]
    return mask


def assert_same_result(a, b, player: np.ndarray | None = None, offset: np.ndarray | None = None,
                       threshold: float = 0.5) -> None:
    """Two FrameResults agree: centres, scores, keypoints, ball identical; labels identical except exact ties."""
    assert a.num_players == b.num_players
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
    differ = a.labels != b.labels
    if differ.any():
        assert player is not None, "labels differ and no fields were given to check for ties"
        assert not (differ & ~tie_mask(player, offset, a.centers, threshold)).any(), "labels differ off exact ties"
    else:
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.areas, b.areas)
    np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=0, atol=1e-5)
    assert (a.ball is None) == (b.ball is None)
    if a.ball is not None:
        assert (a.ball.x, a.ball.y) == (b.ball.x, b.ball.y)
        assert abs(a.ball.score - b.ball.score) <= 1e-5
    for r in (a, b):
        assert r.labels.dtype == np.int32 and r.keypoints.dtype == np.float32 and r.areas.dtype == np.int64
        assert r.labels.max(initial=0) == r.num_players


@pytest.fixture(name="make_fields")
def make_fields_fixture():
    """The structured-field generator make_fields(rng, height, width, n_players, ball=True, noise=0.3)."""
    return make_fields


@pytest.fixture(name="splat_keypoint")
def splat_keypoint_fixture():
    """splat_keypoint(pif, k, x, y, rng, conf, sigma, noise, reach): write one keypoint's PIF cells."""
    return splat_keypoint


@pytest.fixture(name="assert_same_result")
def assert_same_result_fixture():
    """assert_same_result(a, b, player, offset, threshold): native/numpy agreement check."""
    return assert_same_result
