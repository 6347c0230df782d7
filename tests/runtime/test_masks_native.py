"""The native masks core (dsl_masks.h) at its Python boundary: bad input is one clear InputError, fuzzed input
never crashes it, and valid input gives the masks of a plain NumPy gather (the exact pixel-centre rule)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl_deploy.errors import InputError
from dsl_deploy.rle import mask_to_rle, rle_counts_to_string

native = pytest.importorskip("dsl_deploy.runtime._masks", reason="native masks core not built")


def exact_table(src: int, dst: int) -> np.ndarray:
    """floor((i + 0.5) * src / dst) in integers: the rule of dsl_masks.h without tables."""
    i = np.arange(dst, dtype=np.int64)
    return np.minimum((2 * i + 1) * src // (2 * dst), src - 1)


def reference(labels: np.ndarray, n: int, box: tuple, columns=None, rows=None):
    """(per-player RLE counts, areas, frame map) by a NumPy gather of the content rectangle."""
    fw, fh, x0, y0, cw, ch = box
    cols = exact_table(cw, fw) if columns is None else columns
    rws = exact_table(ch, fh) if rows is None else rows
    frame = labels[y0:y0 + ch, x0:x0 + cw][np.ix_(rws, cols)]
    counts = [mask_to_rle(frame == i + 1)["counts"] for i in range(n)]
    return counts, np.bincount(frame.ravel(), minlength=n + 1)[1:n + 1], frame


GOOD = np.arange(12, dtype=np.int32).reshape(3, 4) % 3
BOX = (8, 6, 0, 0, 4, 3)


@pytest.mark.parametrize("labels,message", [
    (GOOD.astype(np.int64), "labels: expected int32, got int64"),
    (GOOD.astype(np.float32), "labels: expected int32, got float32"),
    (GOOD[None], "labels: expected 2 dimensions"),
    (np.asfortranarray(np.tile(GOOD, (2, 2))), "labels: expected a C-contiguous array"),
    (np.zeros((0, 4), np.int32), "labels: empty array"),
    (GOOD.tolist(), "labels: expected a numpy int32 array, got list"),
])
def test_malformed_labels_raise_input_error(labels, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        native.FrameMasks().rle(labels, 2, BOX)
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        native.frame_labels(labels, BOX)


@pytest.mark.parametrize("box,message", [
    ((8, 6, 0, 0, 4), "letterbox: expected 6 integers"),
    ("abcdef", "letterbox: expected 6 integers"),
    ((8, 6, 0, 0, 4, 2 ** 40), "letterbox: expected 6 integers"),
    ((8, 6, 1, 0, 4, 3), r"letterbox: content rectangle \(x 1, y 0, 4x3\) is not inside the 4x3 label map"),
    ((8, 6, 0, 0, 0, 3), "letterbox: content rectangle"),
    ((8, 6, -1, 0, 2, 3), "letterbox: content rectangle"),
    ((0, 6, 0, 0, 4, 3), "letterbox: frame size 0x6"),
    ((70000, 6, 0, 0, 4, 3), "letterbox: frame size 70000x6"),
    ((60000, 60000, 0, 0, 4, 3), "more than 2\\^31 - 1 pixels"),
])
def test_bad_letterbox_raises_input_error(box, message: str) -> None:
    with pytest.raises(InputError, match=message):
        native.FrameMasks().rle(GOOD, 2, box)


def test_bad_players_tables_and_labels_name_the_problem() -> None:
    masks = native.FrameMasks()
    with pytest.raises(InputError, match="num_players: expected a non-negative integer"):
        masks.rle(GOOD, -1, BOX)
    with pytest.raises(InputError, match=r"labels: 2 at \(x=2, y=0\) is outside 0..1 \(num_players\)"):
        masks.rle(GOOD, 1, BOX)
    cols, rows = exact_table(4, 8).astype(np.int32), exact_table(3, 6).astype(np.int32)
    with pytest.raises(InputError, match="columns: expected 8 entries"):
        masks.rle(GOOD, 2, BOX, cols[:5], rows)
    with pytest.raises(InputError, match="rows: expected a 1-D numpy int32 array"):
        masks.rle(GOOD, 2, BOX, cols, rows.astype(np.int64))
    bad = cols.copy()
    bad[3] = 9
    with pytest.raises(InputError, match=r"letterbox.columns\[3\] = 9: expected non-decreasing indices in 0..3"):
        masks.rle(GOOD, 2, BOX, bad, rows)
    bad = rows[::-1].copy()
    with pytest.raises(InputError, match=r"letterbox.rows\[\d\] = \d: expected non-decreasing"):
        native.frame_labels(GOOD, BOX, None, bad)
    counts, offsets, areas = masks.rle(GOOD, 2, BOX)  # still usable after the errors
    assert offsets.shape == (3,) and areas.tolist() == reference(GOOD, 2, BOX)[1].tolist()


@st.composite
def cases(draw):
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    n = draw(st.integers(0, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    labels = rng.integers(0, n + 1, (h, w)).astype(np.int32)
    if draw(st.booleans()):  # blocks rather than noise
        labels = np.repeat(np.repeat(labels[::3, ::3], 3, 0), 3, 1)[:h, :w].copy()
        labels = np.pad(labels, ((0, h - labels.shape[0]), (0, w - labels.shape[1])))
    x0, y0 = draw(st.integers(-1, w)), draw(st.integers(-1, h))
    cw, ch = draw(st.integers(0, w + 1)), draw(st.integers(0, h + 1))
    fw, fh = draw(st.integers(0, 70)), draw(st.integers(0, 70))
    if draw(st.integers(0, 9)) == 0:  # a label the player count does not cover
        labels.reshape(-1)[draw(st.integers(0, labels.size - 1))] = draw(st.sampled_from([-1, n + 1, 2 ** 31 - 1]))
    tables = draw(st.booleans())
    return labels, n, (fw, fh, x0, y0, cw, ch), tables


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_fuzz_never_crashes_and_matches_the_gather(case) -> None:
    labels, n, box, tables = case
    fw, fh, x0, y0, cw, ch = box
    columns = rows = None
    if tables and cw > 0 and ch > 0 and fw > 0 and fh > 0:
        rng = np.random.default_rng(fw * 71 + fh)
        columns = np.sort(rng.integers(0, cw, fw)).astype(np.int32)
        rows = np.sort(rng.integers(0, ch, fh)).astype(np.int32)
    try:
        counts, offsets, areas = native.FrameMasks().rle(labels, n, box, columns, rows)
    except InputError as exc:
        assert str(exc)
        return
    want_counts, want_areas, frame = reference(labels, n, box, columns, rows)
    assert [counts[offsets[i]:offsets[i + 1]].tolist() for i in range(n)] == want_counts
    assert areas.tolist() == want_areas.tolist()
    np.testing.assert_array_equal(native.frame_labels(labels, box, columns, rows), frame)


def test_rle_string_is_cocos_compressed_form() -> None:
    mask_utils = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(5)
    for _ in range(20):
        mask = np.asfortranarray(rng.random((37, 23)) < rng.uniform(0.01, 0.99))
        counts = mask_to_rle(mask)["counts"]
        text = native.rle_string(counts)
        assert text == rle_counts_to_string(counts) == mask_utils.encode(mask.astype(np.uint8))["counts"].decode()
    big = [0, 2 ** 32 - 1, 1, 2 ** 32 - 2, 3]  # deltas beyond 32 bits either way
    assert native.rle_string(big) == rle_counts_to_string(big)
    assert native.rle_string([]) == ""
    with pytest.raises(InputError, match="counts: expected 1 dimension"):
        native.rle_string(np.zeros((2, 2), np.uint32))
