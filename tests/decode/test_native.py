"""The native C++ decoder agrees with the NumPy reference: fused maps, centres, labels, poses, ball."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from dsl_testing.fields import random_pif, with_decoder

from dsl_deploy.decode import Decoder, fuse
from dsl_deploy.decode.fields import full_resolution
from dsl_deploy.spec import BALL, CENTER, ModelSpec

pytest.importorskip("dsl_deploy.decode._native",
                    reason="native decoder not built (python setup.py build_ext --inplace)")


def both(fields: dict, spec: ModelSpec, threads: int = 1):
    """(numpy result, native result, full-res player, offset) for one frame."""
    a = Decoder(spec, impl="numpy")(fields)
    b = Decoder(spec, impl="native", threads=threads)(fields)
    player, offset, _ = full_resolution(fields, spec)
    return a, b, player, offset


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fused_maps_match(seed: int, exact: bool) -> None:
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
    pif = random_pif(rng, h, w)
    a = fuse(pif, h, w, exact=exact, impl="numpy")
    b = fuse(pif, h, w, exact=exact, impl="native")
    assert a.shape == b.shape == (19, h, w) and b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert a.any()


@pytest.mark.parametrize("rules", [{}, {"truncate": 0.4, "sigma_min": 0.5}, {"truncate": 3.0}, {"support": "square"},
                                   {"clamp": 0.5}, {"clamp": 1e30}, {"gaussian": "exp"}, {"strict_thresholds": False}])
def test_authors_fused_maps_are_bit_identical(rules: dict) -> None:
    # The authors' rules in float32: the same operations in the same order, so not one bit may differ (the
    # vector splat tests the disc per lane; a disc smaller than the nearest pixel's distance is included).
    rng = np.random.default_rng(11)
    h, w = 83, 121
    pif = random_pif(rng, h, w, density=0.5)
    pif[:, 4] = rng.uniform(0.2, 9.0, pif[:, 4].shape)
    spec = with_decoder(ModelSpec(backbone="resnet18").with_input_size(w, h), **rules)
    a = Decoder(spec, impl="numpy").fuse(pif, h, w)
    b = Decoder(spec, impl="native").fuse(pif, h, w)
    assert a.any() and np.array_equal(a, b)


@pytest.mark.parametrize("seed,size,n", [(0, 129, 3), (1, 161, 6), (2, 129, 1), (3, 193, 10)])
def test_structured_fields(seed: int, size: int, n: int, make_fields, assert_same_result) -> None:
    spec = ModelSpec(backbone="resnet18").with_input_size(size)
    fields = make_fields(np.random.default_rng(seed), size, size, n)
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1
    assert_same_result(a, b, player, offset)


def test_synthetic_scene_ground_truth(assert_same_result) -> None:
    encode = pytest.importorskip("dsl_deploy.data.encode")
    from dsl_deploy.data.synthetic import SyntheticScenes

    spec = ModelSpec(backbone="resnet18").with_input_size(257)
    scenes = SyntheticScenes(3, 257, 257)
    for i in range(2):
        _, ann = scenes[i]
        fields = encode.ideal_fields(ann, spec, rng=np.random.default_rng(i), noise=0.5)
        a, b, player, offset = both(fields, spec)
        assert a.num_players >= 1
        assert_same_result(a, b, player, offset)


@pytest.mark.parametrize("seed", [5, 6])
def test_random_noise_fields(seed: int, assert_same_result) -> None:
    rng = np.random.default_rng(seed)
    spec = ModelSpec(backbone="resnet18").with_input_size(65, 49)
    h, w = 49, 65
    fields = {"player": rng.random((1, h, w), dtype=np.float32),
              "offset": rng.normal(0, 10, (2, h, w)).astype(np.float32),
              "pif": random_pif(rng, h, w, density=0.6)}
    a, b, player, offset = both(fields, spec)
    assert_same_result(a, b, player, offset)


def test_exact_mode_and_other_parameters(make_fields, assert_same_result) -> None:
    fields = make_fields(np.random.default_rng(7), 97, 97, 4)
    for kw in ({"exact": True}, {"nms_window": 7}, {"max_players": 2}, {"truncate": 3.0, "sigma_min": 2.0},
               {"seed_threshold": 0.0, "keypoint_threshold": 0.0}, {"player_threshold": 1.0}):
        spec = with_decoder(ModelSpec(backbone="resnet18").with_input_size(97), **kw)
        a, b, player, offset = both(fields, spec)
        assert_same_result(a, b, player, offset, spec.decoder.player_threshold)


def test_empty_frame_and_all_zero_confidences(make_fields) -> None:
    spec = ModelSpec(backbone="resnet18").with_input_size(65)
    fields = make_fields(np.random.default_rng(0), 65, 65, 0, ball=False)
    for b in (Decoder(spec, impl="native")(fields), Decoder(spec, impl="numpy")(fields)):
        assert b.num_players == 0 and b.ball is None and not b.labels.any()
        assert b.keypoints.shape == (0, 17, 3) and b.boxes.shape == (0, 4)


def test_all_one_confidences_and_player_map(make_fields, assert_same_result) -> None:
    spec = ModelSpec(backbone="resnet18").with_input_size(65)
    fields = make_fields(np.random.default_rng(1), 65, 65, 2)
    fields["pif"][:, 0] = 1.0
    fields["player"][:] = 1.0
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1 and a.ball is not None
    assert_same_result(a, b, player, offset)


def test_touching_players_and_ball_at_the_border(make_fields, assert_same_result, splat_keypoint) -> None:
    h = w = 81
    spec = with_decoder(ModelSpec(backbone="resnet18").with_input_size(w, h), min_keypoints=0)
    rng = np.random.default_rng(2)
    fields = make_fields(rng, h, w, 0, ball=False)
    fields["player"][0, 10:70, 20:60] = 0.9  # one blob, split by the offsets between two centres
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = np.where(xs < 40, 30.0, 50.0)
    fields["offset"][0] = cx - xs
    fields["offset"][1] = 40.0 - ys
    splat_keypoint(fields["pif"], CENTER, 30.0, 40.0, rng, noise=0)
    splat_keypoint(fields["pif"], CENTER, 50.0, 40.0, rng, conf=0.8, noise=0)
    splat_keypoint(fields["pif"], BALL, 80.0, 0.0, rng, noise=0)
    a, b, player, offset = both(fields, spec)
    assert a.num_players == 2 and a.areas.sum() == 60 * 40
    assert a.ball is not None and (a.ball.x, a.ball.y) == (80.0, 0.0)
    assert_same_result(a, b, player, offset)


def test_seg_stride_4(make_fields, assert_same_result) -> None:
    spec = replace(ModelSpec(backbone="resnet18").with_input_size(129), seg_stride=4, architecture="light")
    full = make_fields(np.random.default_rng(3), 129, 129, 3)
    fields = {"player": np.ascontiguousarray(full["player"][:, ::4, ::4]),
              "offset": np.ascontiguousarray(full["offset"][:, ::4, ::4]), "pif": full["pif"]}
    assert fields["player"].shape == (1, 33, 33)
    a, b, player, offset = both(fields, spec)
    # corners aligned: input cell i sits at pixel 4i
    np.testing.assert_array_equal(player[::4, ::4], fields["player"][0])
    np.testing.assert_allclose(player[2, 2], fields["player"][0, :2, :2].mean(), atol=1e-6)
    assert a.labels.shape == (129, 129) and "upsample" in b.timings
    assert_same_result(a, b, player, offset)


def test_decoder_reuse_across_frames_and_sizes(make_fields, assert_same_result) -> None:
    native = Decoder(ModelSpec(backbone="resnet18").with_input_size(97), impl="native")
    rng = np.random.default_rng(9)
    for size in (97, 97, 65, 97):
        spec = ModelSpec(backbone="resnet18").with_input_size(size)
        native.spec = spec  # the core resizes its scratch when the frame size changes
        fields = make_fields(rng, size, size, int(rng.integers(0, 5)))
        a = Decoder(spec, impl="numpy")(fields)
        b = native(fields)
        player, offset, _ = full_resolution(fields, spec)
        assert_same_result(a, b, player, offset)


def test_two_threads_give_the_same_result(make_fields, assert_same_result) -> None:
    spec = ModelSpec(backbone="resnet18").with_input_size(161)
    fields = make_fields(np.random.default_rng(4), 161, 161, 8)
    a, b, player, offset = both(fields, spec, threads=2)
    assert_same_result(a, b, player, offset)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_exact_ties_go_to_the_first_centre_in_raster_order() -> None:
    """Equidistant pixels (the centre lines between 4+ centres) join the first centre in raster order in both
    implementations (the authors' argmin over centres listed in raster order)."""
    h = w = 49
    spec = with_decoder(ModelSpec(backbone="resnet18").with_input_size(w, h), keypoint_threshold=0.01,
                        min_keypoints=0, discard_mask_pixels=0)
    pif = np.zeros((19, 5, 7, 7), np.float32)
    pif[:, 4] = 1.0
    spots = [(8.0, 8.0, 0.9), (40.0, 8.0, 0.8), (8.0, 40.0, 0.7), (40.0, 40.0, 0.6), (24.0, 24.0, 0.5)]
    for (x, y, c) in spots:
        pif[CENTER, :, int(y) // 8, int(x) // 8] = (c, x, y, 8.0, 1.0)
    fields = {"player": np.ones((1, h, w), np.float32), "offset": np.zeros((2, h, w), np.float32), "pif": pif}
    a = Decoder(spec, impl="numpy")(fields)
    b = Decoder(spec, impl="native")(fields)
    assert a.num_players == 5
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.labels[0, 24] == 1 and a.labels[24, 0] == 1  # equidistant from (8, 8) and (40, 8) or (8, 40)
    assert a.labels[16, 16] == 1  # equidistant from (8, 8) and (24, 24): the earlier in raster order
    assert a.labels[24, 40] == 2 and a.labels[40, 24] == 5  # (40, 8), then (24, 24), come before (40, 40) and (8, 40)


@pytest.mark.parametrize("threads", [1, 2])
def test_many_centres_pruned_and_split_across_threads(threads: int) -> None:
    """49 centres (the core prunes centres per pixel block) over 449x449 player pixels (enough Eq. 4 work that
    two threads split it): labels equal the reference's."""
    h = w = 449
    spec = with_decoder(ModelSpec(backbone="resnet18").with_input_size(w, h), keypoint_threshold=0.01,
                        min_keypoints=0, discard_mask_pixels=0)
    pif = np.zeros((19, 5, (h - 1) // 8 + 1, (w - 1) // 8 + 1), np.float32)
    pif[:, 4] = 1.0
    rng = np.random.default_rng(11)
    for i, (y, x) in enumerate((y, x) for y in range(32, h, 64) for x in range(32, w, 64)):
        pif[CENTER, :, y // 8, x // 8] = (0.5 + 0.01 * i, x, y, 8.0, 1.0)
    offset = rng.normal(0.0, 20.0, (2, h, w)).astype(np.float32)
    offset[:, ::7, ::5] = np.round(offset[:, ::7, ::5])  # integer targets: ties between centres happen
    fields = {"player": np.ones((1, h, w), np.float32), "offset": offset, "pif": pif}
    a, b, _, _ = both(fields, spec, threads=threads)
    assert a.num_players == 49
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.areas, b.areas)
    np.testing.assert_array_equal(a.boxes, b.boxes)


def test_two_threads_in_exact_mode(make_fields, assert_same_result) -> None:
    """Exact mode splats over whole maps, so fusion and poses take the threaded paths even on a small frame."""
    spec = with_decoder(ModelSpec(backbone="resnet18").with_input_size(97), exact=True)
    fields = make_fields(np.random.default_rng(12), 97, 97, 4)
    a, b, player, offset = both(fields, spec, threads=2)
    assert_same_result(a, b, player, offset)


PLAIN_SCRIPT = """
import numpy as np
from dsl_deploy.data.encode import ideal_fields
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.decode import Decoder, fuse
from dsl_deploy.spec import default_spec

spec = default_spec(size=161)
scenes = SyntheticScenes(seed=5, width=161, height=161, min_players=3, max_players=6)
rng = np.random.default_rng(5)
for i in range(3):
    fields = ideal_fields(scenes[i][1], spec, noise=0.5, rng=rng)
    a, b = Decoder(spec, impl="numpy")(fields), Decoder(spec, impl="native")(fields)
    assert a.num_players == b.num_players > 0
    for name in ("labels", "keypoints", "scores", "boxes", "areas", "centers"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for exact in (False, True):
        np.testing.assert_array_equal(fuse(fields["pif"], 161, 161, exact=exact, impl="numpy"),
                                      fuse(fields["pif"], 161, 161, exact=exact, impl="native"))
print("plain ok")
"""


def test_plain_kernels_match_the_reference() -> None:
    """DSL_DECODE_PLAIN=1 selects the plain C++ kernels (what non-AVX2 CPUs run): same results as the reference."""
    env = {**os.environ, "DSL_DECODE_PLAIN": "1"}
    done = subprocess.run([sys.executable, "-c", PLAIN_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "plain ok" in done.stdout
