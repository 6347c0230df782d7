"""The authors' target rules (data/encode_authors.py) on hand-made annotations with known answers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dsl_deploy.data.encode import encode_targets
from dsl_deploy.data.encode_authors import crowd_cells, encode_authors_targets, encode_with_rules
from dsl_deploy.errors import InputError
from dsl_deploy.spec import BALL, CENTER

KEYS = {"semantic", "offset", "seg_weight", "pif_conf", "pif_mask", "pif_reg", "pif_sigma", "semantic_class",
        "offset_weight"}


def test_three_classes_and_the_balls_offsets(spec129, make_ann):
    # Player box rows 40..59, cols 50..69; ball of radius 3 at (100, 20), clear of the player.
    ann = make_ann(ball=(100.0, 20.0, 3.0))
    for rules in ("authors", "eq2"):
        t = encode_with_rules(ann, spec129, rules)
        assert set(t) == KEYS and all(v.dtype == np.float32 for v in t.values())
        cls = t["semantic_class"][0]
        assert (cls[40:60, 50:70] == 1).all() and (cls == 1).sum() == 400
        # The disc of radius 3 on integer pixels: 29 pixels (1 + 4 x 3 + 4 x 4: |dx|, |dy| <= 3, dx^2 + dy^2 <= 9).
        assert (cls == 2).sum() == 29 and cls[20, 100] == 2 and cls[20, 103] == 2 and cls[23, 103] == 0
        # Ball pixels point at the ball's centre (the disc is symmetric: its centroid is (100, 20)).
        ys, xs = np.nonzero(cls == 2)
        np.testing.assert_allclose(xs + t["offset"][0, ys, xs], 100.0, atol=1e-5)
        np.testing.assert_allclose(ys + t["offset"][1, ys, xs], 20.0, atol=1e-5)
        assert t["offset_weight"].sum() == 400 + 29 and (t["offset_weight"][0][cls == 0] == 0).all()
        # The player-only target of the eq2 forms is unchanged: the ball is not a player.
        assert t["semantic"].sum() == 400


def test_a_player_in_front_of_the_ball_keeps_its_pixels(spec129, make_ann):
    # Ball of radius 4 centred on the player's left edge (x = 50): the 4 columns 50..54 are the player's.
    ann = make_ann(ball=(50.0, 50.0, 4.0))
    t = encode_authors_targets(ann, spec129)
    cls = t["semantic_class"][0]
    assert (cls[40:60, 50:70] == 1).all()
    ball = np.argwhere(cls == 2)
    assert len(ball) > 0 and (ball[:, 1] < 50).all()
    # The ball's centre is the centroid of its visible pixels: columns 46..49 hold 1, 5, 7, 7 disc pixels
    # (dy^2 <= 16 - dx^2), so x = (46 + 5 x 47 + 7 x 48 + 7 x 49) / 20 = 48; y stays 50 (symmetric).
    assert len(ball) == 20
    np.testing.assert_allclose(ball[:, 1] + t["offset"][0, ball[:, 0], ball[:, 1]], 48.0, atol=1e-4)
    np.testing.assert_allclose(ball[:, 0] + t["offset"][1, ball[:, 0], ball[:, 1]], 50.0, atol=1e-4)


def test_crowd_is_background_with_weight_one_and_only_body_part_fields_are_ignored(spec129, make_ann):
    # Crowd pixels x 8..31, y 0..63 (one region): its box covers cells i 1..3, j 0..7.
    crowd = np.zeros((129, 129), bool)
    crowd[0:64, 8:32] = True
    ann = make_ann(keypoints={(0, 9): (20, 36, 2)}, ignore=crowd, ball=(20.0, 20.0, 3.0))
    t = encode_authors_targets(ann, spec129)
    assert (t["seg_weight"] == 1).all()
    assert (t["semantic_class"][0][crowd & (ann.instances == 0)] != 1).all()
    box = np.zeros(spec129.pif_size, bool)
    box[0:8, 1:4] = True
    for k in (0, 9, CENTER):
        pos = t["pif_conf"][k] > 0
        assert (t["pif_mask"][k][box & ~pos] == 0).all() and (t["pif_mask"][k][~box] == 1).all()
    # The ball's field is never ignored, and its 16 cells stay positive inside the box.
    assert (t["pif_mask"][BALL] == 1).all() and t["pif_conf"][BALL].sum() == 16
    # The wrist at (20, 36) = cells (2.5, 4.5) has the 4x4 block i 1..4, j 3..6. Inside the box (i 1..3) a cell
    # is claimed only when nearer than 1 cell: the 4 at distance sqrt(0.5) (i 2..3, j 4..5); column i 4 lies
    # outside the box and keeps its 4 cells; the other 8 cells of the block are ignored.
    pos = np.argwhere(t["pif_conf"][9] > 0)
    assert {tuple(p) for p in pos} == {(4, 2), (4, 3), (5, 2), (5, 3), (3, 4), (4, 4), (5, 4), (6, 4)}
    assert np.isfinite(t["pif_reg"][9, 0]).sum() == 8 and np.isfinite(t["pif_sigma"][9]).sum() == 8
    # The wrist's cell (j 4, i 1) is in its 4x4 block but inside the box and 1.58 cells away: ignored.
    assert t["pif_mask"][9, 4, 1] == 0 and t["pif_conf"][9, 4, 1] == 0
    # Cells of the block outside the box (i 4) keep their targets.
    assert t["pif_conf"][9, 4, 4] == 1 and t["pif_mask"][9, 4, 4] == 1


def test_todays_rules_ignore_pixels_and_cells_of_the_crowd(spec129, make_ann):
    crowd = np.zeros((129, 129), bool)
    crowd[0:64, 8:32] = True
    ann = make_ann(keypoints={(0, 9): (20, 36, 2)}, ignore=crowd, ball=(20.0, 20.0, 3.0))
    t = encode_with_rules(ann, spec129, "eq2")
    base = encode_targets(ann, spec129)
    not_ball = t["semantic_class"][0] != 2
    for k in base:  # today's targets, except that the ball's pixels now have offsets too
        np.testing.assert_array_equal(t[k][:, not_ball] if k == "offset" else t[k],
                                      base[k][:, not_ball] if k == "offset" else base[k])
    assert t["seg_weight"][0, 30, 20] == 0 and t["pif_conf"][9].sum() == 16
    # The ball lies in the crowd: its pixels keep their class, but no offset weight where seg_weight is 0.
    assert (t["semantic_class"] == 2).sum() == 29 and t["offset_weight"][0, 20, 20] == 0
    with pytest.raises(InputError, match="loss.targets"):
        encode_with_rules(ann, spec129, "coco")


def test_crowd_cells_take_each_regions_box(spec129):
    # An L-shaped region (its box covers cells it does not touch) and a separate 1-pixel region.
    ignore = np.zeros((129, 129), bool)
    ignore[16:40, 16:20] = True  # vertical bar: x 16..19, y 16..39
    ignore[36:40, 16:48] = True  # foot: x 16..47, y 36..39
    ignore[100, 100] = True
    cells = crowd_cells(ignore, spec129)
    expected = np.zeros(spec129.pif_size, bool)
    expected[2:5, 2:6] = True  # box x 16..48 -> cells 2 .. ceil(48/8) = 6 (exclusive); y 16..40 -> 2..5
    expected[12:13, 12:13] = True  # x 100, w 1 -> cells int(12.5) .. ceil(12.625): one cell
    np.testing.assert_array_equal(cells, expected)
    assert not crowd_cells(None, spec129).any()


def test_a_zero_scale_target_is_undefined(spec129, make_ann):
    # Two players' left wrists on one spot: the nearest-neighbour clip makes their scale 0.
    ann = make_ann(boxes=((40, 60, 50, 70), (80, 100, 10, 30)), keypoints={(0, 9): (44, 36, 2), (1, 9): (44, 36, 2)})
    today = encode_targets(ann, spec129)
    assert (today["pif_sigma"][9][today["pif_conf"][9] > 0] == 0).all()
    t = encode_authors_targets(ann, spec129)
    assert t["pif_conf"][9].sum() == 16 and np.isnan(t["pif_sigma"][9]).all()


def test_seg_stride_4_samples_the_class_grid(spec129, make_ann):
    spec = dataclasses.replace(spec129, seg_stride=4)
    t = encode_authors_targets(make_ann(ball=(100.0, 20.0, 4.0)), spec)
    cls = t["semantic_class"][0]
    assert cls.shape == (33, 33) and (cls[10:15, 13:18] == 1).all()
    # Grid pixels (4i, 4j) on the disc of radius 4 at (100, 20): (100, 20), (96, 20), (104, 20), (100, 16), (100, 24).
    assert {tuple(p) for p in np.argwhere(cls == 2)} == {(5, 25), (5, 24), (5, 26), (4, 25), (6, 25)}
    np.testing.assert_allclose(t["offset"][0, 5, 24], 100.0 - 96.0, atol=1e-5)
