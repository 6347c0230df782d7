"""Bad input at the native boundary raises InputError naming the array; a fuzz test never crashes it."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl_deploy.decode.reference import decode_reference
from dsl_deploy.errors import InputError
from dsl_deploy.spec import DecoderSpec
from dsl_deploy.result import FrameResult

native = pytest.importorskip("dsl_deploy.decode._native", reason="native decoder not built")

DEFAULTS = {"seed_threshold": 0.1, "keypoint_threshold": 0.1, "player_threshold": 0.5, "nms_window": 3,
            "truncate": 1.0, "sigma_min": 1.0, "weight_divisor": 16.0, "exact": False, "max_players": 64}


def good(h: int = 33, w: int = 41) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    player = np.zeros((h, w), np.float32)
    player[5:20, 5:20] = 0.9
    offset = np.zeros((2, h, w), np.float32)
    pif = np.zeros((19, 5, (h - 1) // 8 + 1, (w - 1) // 8 + 1), np.float32)
    pif[:, 0] = rng.random(pif[:, 0].shape) * 0.5
    pif[:, 1] = 12.0
    pif[:, 2] = 12.0
    pif[:, 4] = 2.0
    return player, offset, pif


@pytest.fixture
def dec():
    return native.NativeDecoder(DEFAULTS, 1)


@pytest.mark.parametrize("which,bad,message", [
    ("player", lambda a: a.astype(np.float64), "player: expected float32, got float64"),
    ("offset", lambda a: a.astype(np.float16), "offset: expected float32, got float16"),
    ("pif", lambda a: a.astype(np.int32), "pif: expected float32, got int32"),
    ("player", lambda a: a[None], "player: expected 2 dimensions"),
    ("pif", lambda a: a[0], "pif: expected 4 dimensions"),
    ("offset", lambda a: a[:1], "offset: expected shape [2, 33, 41]"),
    ("offset", lambda a: np.zeros((2, 33, 40), np.float32), "offset: expected shape [2, 33, 41]"),
    ("pif", lambda a: a[:18], "pif: expected shape [19, 5, Hp, Wp]"),
    ("pif", lambda a: np.zeros((19, 4, 5, 6), np.float32), "pif: expected shape [19, 5, Hp, Wp]"),
    ("player", lambda a: np.asfortranarray(a), "player: expected a C-contiguous array"),
    ("offset", lambda a: a[:, :, ::-1], "offset: expected a C-contiguous array"),
    ("pif", lambda a: a.tolist(), "pif: expected a numpy float32 array, got list"),
    ("player", lambda a: np.zeros((0, 41), np.float32), "player: empty array"),
])
def test_malformed_arrays_raise_input_error(dec, which: str, bad, message: str) -> None:
    arrays = dict(zip(("player", "offset", "pif"), good()))
    arrays[which] = bad(arrays[which])
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        dec.decode(arrays["player"], arrays["offset"], arrays["pif"])


@pytest.mark.parametrize("which,index,value,message", [
    ("pif", (3, 0, 1, 1), np.nan, "pif: non-finite confidence at type 3"),
    ("pif", (18, 1, 1, 1), np.inf, "pif: non-finite x at type 18"),
    ("pif", (5, 4, 0, 2), -np.inf, "pif: non-finite sigma at type 5"),
    ("player", (7, 30), np.nan, r"player: non-finite probability at \(x=30, y=7\)"),
    ("offset", (1, 6, 6), np.inf, r"offset: non-finite value at player pixel \(x=6, y=6\)"),
])
def test_non_finite_values_raise_input_error(dec, which: str, index: tuple, value: float, message: str) -> None:
    arrays = dict(zip(("player", "offset", "pif"), good()))
    arrays["pif"][18, 0, 1, 1] = 0.9  # a centre, so the offsets are read
    arrays["pif"][18, 1:3, 1, 1] = 12.0
    if which == "pif":
        arrays["pif"][index[0], 0, index[2], index[3]] = 0.9  # a seed, so its values are read
    arrays[which][index] = value
    with pytest.raises(InputError, match=message):
        dec.decode(arrays["player"], arrays["offset"], arrays["pif"])
    dec.decode(*good())  # the decoder is still usable afterwards


def test_bad_parameters_and_sizes() -> None:
    for key, value in (("nms_window", 4), ("player_threshold", 0.0), ("sigma_min", -1.0), ("max_players", 0),
                       ("truncate", float("nan"))):
        with pytest.raises(InputError, match=key):
            native.NativeDecoder({**DEFAULTS, key: value}, 1)
    with pytest.raises(InputError, match="num_threads"):
        native.NativeDecoder(DEFAULTS, 0)
    dec = native.NativeDecoder(DEFAULTS, 1)
    with pytest.raises(InputError, match="height"):
        dec.fuse(good()[2], 0, 10)
    with pytest.raises(InputError, match="width"):
        dec.fuse(good()[2], 10, 10 ** 6)


@st.composite
def frames(draw):
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    hp = draw(st.integers(1, 7))
    wp = draw(st.integers(1, 7))
    special = st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e30, -1e30, 1e-30, np.nan, np.inf, -np.inf, 0.1, 100.0])
    floats = st.one_of(st.floats(-1e3, 1e3, width=32), special)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))

    def arr(shape):
        a = rng.uniform(-2, 2, shape).astype(np.float32)
        for _ in range(draw(st.integers(0, 4))):
            a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(floats)
        return a

    player = np.abs(arr((h, w)))
    offset = arr((2, h, w)) * draw(st.sampled_from([1.0, 50.0]))
    pif = arr((19, 5, hp, wp))
    pif[:, 1] *= w
    pif[:, 2] *= h
    pif[:, 4] *= draw(st.sampled_from([1.0, 20.0]))
    params = {**DEFAULTS,
              "seed_threshold": draw(st.sampled_from([0.0, 0.1, 1.0])),
              "keypoint_threshold": draw(st.sampled_from([0.0, 0.05, 0.5])),
              "nms_window": draw(st.sampled_from([1, 3, 5, 9])),
              "exact": draw(st.booleans()),
              "max_players": draw(st.integers(1, 5))}
    return player, offset, pif, params, draw(st.integers(1, 2))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_fuzz_never_crashes(frame, assert_same_result) -> None:
    """Either InputError or a valid FrameResult; with all values finite, also the reference's answer."""
    player, offset, pif, params, threads = frame
    dec = native.NativeDecoder(params, threads)
    try:
        r = dec.decode(player, offset, pif)
    except InputError as exc:
        assert str(exc)
        return
    assert isinstance(r, FrameResult)
    h, w = player.shape
    assert r.labels.shape == (h, w) and 0 <= r.labels.min() and r.labels.max() <= r.num_players
    assert r.num_players <= params["max_players"]
    assert np.isfinite(r.keypoints).all() and np.isfinite(r.scores).all()
    for i in range(r.num_players):
        x0, y0, x1, y1 = r.boxes[i]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and r.areas[i] == (r.labels == i + 1).sum() > 0
    if r.ball is not None:
        assert 0 <= r.ball.x < w and 0 <= r.ball.y < h and r.ball.score > 0
    if all(np.isfinite(a).all() for a in (player, offset, pif)):
        with np.errstate(over="ignore", under="ignore"):
            ref = decode_reference(player, offset, pif, DecoderSpec(**params))
        assert_same_result(ref, r, player, offset, params["player_threshold"])


def test_non_finite_offsets_inside_a_wide_player_report_the_first() -> None:
    """Two bad offsets in one run of 16 player pixels on a row (the core's contiguous block): the first is named."""
    dec = native.NativeDecoder(DEFAULTS, 1)
    player, offset, pif = good()
    player[5:20, 2:40] = 0.9
    pif[18, 0, 1, 1] = 0.9  # a centre, so the offsets are read
    pif[18, 1:3, 1, 1] = 12.0
    offset[1, 10, 25] = np.nan
    offset[0, 10, 21] = -np.inf
    with pytest.raises(InputError, match=r"offset: non-finite value at player pixel \(x=21, y=10\)"):
        dec.decode(player, offset, pif)
