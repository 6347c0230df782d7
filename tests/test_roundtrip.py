"""Round trip: encode the ground truth of synthetic scenes into ideal fields, decode them, score them.

What a perfect network would give must score near the top on every measure the decoder can reach. With the
authors' decoding (docs/architecture.md, "Decoding") two things stay out of reach by design: players whose
visible mask has 100 pixels or fewer, or fewer than five keypoints with the centre, are dropped (pDQ below
100), and a keypoint within the 13x13 window of a stronger one of the same type (two players' feet side by
side) is suppressed, as is a keypoint hidden behind another player. The bounds below leave a margin under what
was measured (257x257, 24 scenes, coco protocol, numpy and native identical): crowded scenes (seed 0): pSQ 100,
pDQ 98.0, bDQ 100, AP 69.7 / AR 77.4 on all labelled keypoints, AP 87.0 / AR 90.1 on visible ones; one to
three players (seed 1): pSQ 100, pDQ 97.0, bDQ 100, AP 92.6 all, 93.4 visible. With only the visible keypoints
encoded the crowded scenes give AP 95.9 / AR 96.6. Without the two player filters every player comes back
(pDQ 100).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dsl_deploy.data.encode import ideal_fields
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.decode import decode, native_available
from dsl_deploy.metrics.evaluator import Evaluator
from dsl_deploy.spec import default_spec

SIZE = 257
IMPLS = ["numpy",
         pytest.param("native", marks=pytest.mark.skipif(not native_available(), reason="native decoder not built")),
         pytest.param("cuda", marks=pytest.mark.cuda)]


def _round_trip(impl: str, scenes: SyntheticScenes, count: int) -> tuple[dict, dict]:
    """Summaries over all labelled keypoints and over visible ones only."""
    spec = default_spec("resnet18", SIZE)
    every, visible = Evaluator(spec), Evaluator(spec)
    for i in range(count):
        _, ann = scenes[i]
        result = decode(ideal_fields(ann, spec), spec, impl=impl)
        every.add(result, ann)
        kp = ann.keypoints.copy()
        kp[kp[:, :, 2] == 1, 2] = 0  # occluded keypoints no longer labelled
        visible.add(result, dataclasses.replace(ann, keypoints=kp))
    return every.summary(), visible.summary()


@pytest.mark.parametrize("impl", IMPLS)
def test_round_trip_crowded_scenes(impl: str) -> None:
    every, visible = _round_trip(impl, SyntheticScenes(0, SIZE, SIZE), 24)
    assert every["counts"]["players_tp"] > 100  # enough players for the figures to mean something
    assert every["pSQ"] >= 99.0 and every["pDQ"] >= 96.0
    assert every["bDQ"] is not None and every["bDQ"] >= 90.0
    assert every["AP"] >= 60.0 and every["AR"] >= 70.0
    assert visible["AP"] >= 82.0 and visible["AR"] >= 85.0
    assert visible["AP"] > every["AP"]  # the gap is the occluded keypoints the contract cannot return


@pytest.mark.parametrize("impl", IMPLS)
def test_round_trip_visible_keypoints_only(impl: str) -> None:
    spec = default_spec("resnet18", SIZE)
    scenes = SyntheticScenes(0, SIZE, SIZE)
    ev = Evaluator(spec)
    for i in range(24):
        _, ann = scenes[i]
        kp = ann.keypoints.copy()
        kp[kp[:, :, 2] == 1, 2] = 0
        visible = dataclasses.replace(ann, keypoints=kp)
        ev.add(decode(ideal_fields(visible, spec), spec, impl=impl), visible)
    s = ev.summary()
    assert s["pSQ"] >= 99.0 and s["pDQ"] >= 96.0 and s["AP"] >= 93.0 and s["AR"] >= 93.0


@pytest.mark.parametrize("impl", IMPLS)
def test_round_trip_sparse_scenes(impl: str) -> None:
    scenes = SyntheticScenes(1, SIZE, SIZE, min_players=1, max_players=3)
    every, visible = _round_trip(impl, scenes, 24)
    assert every["pSQ"] >= 99.0 and every["pDQ"] >= 95.0
    assert visible["AP"] >= 90.0 and visible["AR"] >= 90.0
    assert every["AP"] >= 85.0


def test_round_trip_without_the_player_filters_returns_every_player() -> None:
    spec = default_spec("resnet18", SIZE).with_decoder(discard_mask_pixels=0, min_keypoints=0)
    scenes = SyntheticScenes(0, SIZE, SIZE)
    ev = Evaluator(spec)
    for i in range(12):
        _, ann = scenes[i]
        ev.add(decode(ideal_fields(ann, spec), spec, impl="numpy"), ann)
    s = ev.summary()
    assert s["counts"]["players_fn"] == 0 and s["pSQ"] >= 99.0 and s["pDQ"] >= 99.0


def test_noisy_fields_score_lower_but_sensibly() -> None:
    spec = default_spec("resnet18", SIZE)
    scenes = SyntheticScenes(2, SIZE, SIZE)
    evals = {noise: Evaluator(spec) for noise in (0.0, 0.2, 0.3)}
    for noise, ev in evals.items():
        rng = np.random.default_rng(0)
        for i in range(8):
            _, ann = scenes[i]
            ev.add(decode(ideal_fields(ann, spec, rng=rng, noise=noise), spec, impl="numpy"), ann)
    clean, mild, strong = (evals[k].summary() for k in (0.0, 0.2, 0.3))
    # measured: AP 69.4 / 56.3 / 31.8, pDQ 99.2 / 98.5 / 98.5
    assert clean["AP"] > mild["AP"] > strong["AP"] and clean["pDQ"] >= mild["pDQ"] >= strong["pDQ"]
    assert mild["pDQ"] >= 85.0 and mild["pSQ"] >= 90.0 and mild["AP"] >= 40.0


def _frame_round_trip(width: int, height: int, count: int = 12) -> dict:
    """Frames of another size: annotation letterboxed to the input, ideal fields, decode, map back, score."""
    from dsl_deploy.data.augment import resize_to_input
    from dsl_deploy.preprocess import letterbox_params
    from dsl_deploy.runtime.mapping import result_to_frame

    spec = default_spec("resnet18", SIZE)
    scenes = SyntheticScenes(0, width, height)
    lb = letterbox_params(width, height, SIZE, SIZE)
    ev = Evaluator(spec)
    for i in range(count):
        image, ann = scenes[i]
        kp = ann.keypoints.copy()
        kp[kp[:, :, 2] == 1, 2] = 0
        ann = dataclasses.replace(ann, keypoints=kp)
        _, ann_in = resize_to_input(image, ann, spec)
        ev.add(result_to_frame(decode(ideal_fields(ann_in, spec), spec, impl="numpy"), lb), ann)
    return ev.summary()


def test_frame_round_trip_points() -> None:
    # 200x150 frames upscaled into the 257 input and mapped back: points keep sub-pixel accuracy
    # (measured AP 85.7, AR 86.9, bDQ 100; small players make OKS sensitive to the grid, and the smallest are
    # dropped by the decoder's 100-pixel filter).
    s = _frame_round_trip(200, 150)
    assert s["bDQ"] is not None and s["bDQ"] >= 90.0
    assert s["AP"] >= 80.0 and s["AR"] >= 80.0


def test_frame_round_trip_masks() -> None:
    # Label maps come back through a pixel-centre nearest resize: measured pSQ 99.5, pDQ 94.1 (the players of
    # 100 px or less at the network's resolution are dropped; 77.5 and 99.1 with the old decoder when the
    # resize sampled floor(x * scale)).
    s = _frame_round_trip(200, 150)
    assert s["pSQ"] >= 99.0 and s["pDQ"] >= 90.0
