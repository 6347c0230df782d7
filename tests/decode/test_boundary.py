"""One refusal contract at the decoder boundary for the NumPy reference and the native core (issue 12, F11)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dsl_deploy.decode import Decoder
from dsl_deploy.decode.reference import nearest_center
from dsl_deploy.errors import InputError
from dsl_deploy.spec import default_spec

SPEC = default_spec("resnet18", 33)
pytest.importorskip("dsl_deploy.decode._native", reason="the contract is checked on both implementations")
IMPLS = ("numpy", "native")


def _fields() -> dict[str, np.ndarray]:
    """A centre at (16, 16) on a player disc, a body part off the player at (28, 4), a ball; all finite."""
    player = np.zeros((1, 33, 33), np.float32)
    yy, xx = np.mgrid[:33, :33]
    player[0, (yy - 16) ** 2 + (xx - 16) ** 2 <= 64] = 0.9
    offset = np.zeros((2, 33, 33), np.float32)
    offset[0] = 16 - xx
    offset[1] = 16 - yy
    pif = np.zeros((19, 5, 5, 5), np.float32)
    pif[:, 4] = 2.0
    for k, (x, y) in ((18, (16, 16)), (0, (28, 4)), (17, (8, 24))):
        pif[k, 0, y // 8, x // 8] = 0.9
        pif[k, 1, y // 8, x // 8] = x
        pif[k, 2, y // 8, x // 8] = y
    return {"player": player, "offset": offset, "pif": pif}


def _both(fields: dict[str, np.ndarray]) -> list:
    """Each implementation's result, or its InputError message."""
    out = []
    for impl in IMPLS:
        try:
            params = {"min_keypoints": 0, "discard_mask_pixels": 0, "weight_divisor": 1.0}
            out.append(Decoder(SPEC, impl=impl, params=params)(fields))
        except InputError as exc:
            out.append(str(exc))
    return out


def _same(a, b) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, str):
        assert a == b
    else:
        assert a.num_players == b.num_players and np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.keypoints, b.keypoints) and a.ball == b.ball


def test_f11_finite_fields_decode_the_same_on_both():
    numpy_result, native_result = _both(_fields())
    assert not isinstance(numpy_result, str) and numpy_result.num_players == 1
    assert numpy_result.keypoints[0, 0, 2] > 0  # the body part off the player joined the nearest centre
    _same(numpy_result, native_result)


@pytest.mark.parametrize("where,value,message", [
    (("pif", (17, 0, 3, 1)), 1e30, "pif: confidence 1e+30 at type 17, cell (x=1, y=3) is outside [0, 1]; the "
                                   "decoder takes ready fields (sigmoid confidences, see docs/architecture.md)"),
    (("pif", (3, 0, 0, 0)), -0.5, "pif: confidence -0.5 at type 3, cell (x=0, y=0) is outside [0, 1]; the "
                                  "decoder takes ready fields (sigmoid confidences, see docs/architecture.md)"),
    (("pif", (18, 1, 2, 2)), np.nan, "pif: non-finite x at type 18, cell (x=2, y=2)"),
    (("pif", (5, 0, 1, 1)), np.inf, "pif: non-finite confidence at type 5, cell (x=1, y=1)"),
    (("player", (0, 3, 30)), np.nan, "player: non-finite probability at (x=30, y=3)"),
    (("offset", (1, 16, 20)), np.inf, "offset: non-finite value at player pixel (x=20, y=16)"),
    (("offset", (0, 4, 28)), np.nan, "offset: non-finite value at keypoint pixel (x=28, y=4)"),
])
def test_f11_both_implementations_refuse_the_same_values_with_the_same_message(where, value, message):
    fields = _fields()
    name, index = where
    fields[name][index] = value
    numpy_result, native_result = _both(fields)
    assert numpy_result == message
    _same(numpy_result, native_result)


@pytest.mark.parametrize("where", [("pif", (4, 3, 2, 2)), ("pif", (7, 1, 4, 4)), ("offset", (0, 0, 0))])
def test_f11_nan_in_values_no_implementation_reads_is_accepted_by_both(where):
    fields = _fields()
    name, index = where  # a b channel; x of a cell that is not a seed; the offset of a background pixel
    fields[name][index] = np.nan
    numpy_result, native_result = _both(fields)
    assert not isinstance(numpy_result, str)
    _same(numpy_result, native_result)
    _same(numpy_result, _both(_fields())[0])


def test_f11_non_contiguous_arrays_are_accepted_by_both():
    fields = _fields()
    strided = {"player": np.asfortranarray(fields["player"]),
               "offset": fields["offset"].transpose(0, 2, 1).copy().transpose(0, 2, 1),
               "pif": np.asfortranarray(fields["pif"])}
    assert not strided["player"].flags.c_contiguous and not strided["offset"].flags.c_contiguous
    results = _both(strided)
    _same(results[0], results[1])
    _same(results[0], _both(fields)[0])


def test_f11_fuse_sizes_above_8192_are_refused_by_both():
    pif = _fields()["pif"]
    for impl in IMPLS:
        dec = Decoder(SPEC, impl=impl)
        with pytest.raises(InputError, match=r"width: expected an integer in \[1, 8192\], got 10000"):
            dec.fuse(pif, 33, 10_000)
        with pytest.raises(InputError, match="outside"):
            dec.fuse(pif * 3, 33, 33)


def test_f11_numpy_assignment_memory_stays_bounded_with_thousands_of_centres():
    """max_players 10,000 and 6,561 centres: blocks shrink with the centre count (it tried 10 GiB before)."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(0, 641, (6561, 2)).astype(np.float32)
    ys, xs = np.divmod(np.arange(0, 641 * 641, 3), 641)
    offset = np.zeros((2, 641, 641), np.float32)
    tracemalloc.start()
    try:
        nearest_center(xs[:60_000], ys[:60_000], offset, centers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 2 ** 20, f"{peak / 2 ** 20:.0f} MB"
