"""The native masks path (labels='frame') against the dense path on frames of several sizes and shapes.

Each decoded result is mapped both ways; the RLE, areas, label map, JSON line and COCO record must be the
same, pixel for pixel and byte for byte.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from dsl_deploy.data.augment import resize_to_input
from dsl_deploy.data.encode import ideal_fields
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.decode import decode
from dsl_deploy.preprocess import letterbox_params
from dsl_deploy.result import FrameResult
from dsl_deploy.rle import mask_to_rle, rle_mask
from dsl_deploy.runtime.mapping import MappedResult, native_masks_available, result_to_frame
from dsl_deploy.metrics.coco_format import coco_record
from dsl_deploy.runtime.sinks import json_line
from dsl_deploy.runtime.sources import Frame
from dsl_deploy.spec import default_spec

pytestmark = pytest.mark.skipif(not native_masks_available(), reason="native masks core not built")

SIZE = 129  # random label maps
DECODE_SIZE = 257  # decoded scenes: players large enough to pass the decoder's size filter in every frame shape
# Frame sizes: broadcast 16:9, then (smaller, to keep the test quick) portrait 9:16, 4:3, 21:9, near-square
# both ways, and small frames enlarged into the input.
FRAMES = [(1920, 1080), (270, 480), (360, 270), (630, 270), (300, 287), (287, 300), (200, 150), (97, 61)]
# Two more where frame pixel centres fall exactly between content pixels (content 22 rows -> 43 frame rows:
# OpenCV's tie-breaking, which the native path takes from OpenCV's own tables), for random maps only.
TIES = [(258, 43), (43, 258)]


def _decoded(width: int, height: int, index: int) -> FrameResult:
    """A result at the network input: the ideal fields of a synthetic scene drawn at the frame size, decoded."""
    spec = default_spec("resnet18", DECODE_SIZE)
    image, ann = SyntheticScenes(3, width, height, min_players=6, max_players=10)[index]
    _, ann_in = resize_to_input(image, ann, spec)
    return decode(ideal_fields(ann_in, spec), spec, impl="numpy")


def _random_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Rectangles and speckle of n players on a SIZE x SIZE map (labels 0..n, some players without pixels)."""
    labels = np.zeros((SIZE, SIZE), np.int32)
    for i in range(n):
        x0, y0 = rng.integers(0, SIZE - 4, 2)
        labels[y0:y0 + rng.integers(1, 40), x0:x0 + rng.integers(1, 25)] = i + 1
    speckle = rng.random(labels.shape) < 0.02
    labels[speckle] = rng.integers(0, n + 1, int(speckle.sum()))
    return labels


def _assert_same(fast: FrameResult, dense: FrameResult) -> None:
    assert isinstance(fast, MappedResult) and not isinstance(dense, MappedResult)
    assert fast.size == dense.size == dense.labels.shape
    np.testing.assert_array_equal(fast.areas, dense.areas)
    for i in range(dense.num_players):
        rle = fast.rle(i)
        assert rle == mask_to_rle(dense.labels == i + 1)
        assert sum(rle["counts"][1::2]) == dense.areas[i]
    frame = Frame(7, np.zeros((1, 1, 3), np.uint8), "cam0", 1.5)
    assert json_line(frame, fast) == json_line(frame, dense)
    assert coco_record(fast, 7) == coco_record(dense, 7)
    np.testing.assert_array_equal(fast.labels, dense.labels)  # built on first read, the same map


@pytest.mark.parametrize("width,height", FRAMES)
def test_decoded_scenes_map_the_same_both_ways(width: int, height: int) -> None:
    lb = letterbox_params(width, height, DECODE_SIZE, DECODE_SIZE)
    players = 0
    for index in range(1):
        decoded = _decoded(width, height, index)
        players += decoded.num_players
        _assert_same(result_to_frame(decoded, lb), result_to_frame(decoded, lb, labels="dense"))
    assert players > 0


@pytest.mark.parametrize("width,height", FRAMES + TIES)
def test_random_label_maps_map_the_same_both_ways(width: int, height: int) -> None:
    rng = np.random.default_rng(width * 7919 + height)
    lb = letterbox_params(width, height, SIZE, SIZE)
    for n in (0, 1, 12):
        res = FrameResult.empty(SIZE, SIZE)
        res.labels = _random_labels(n, rng)
        res.keypoints = np.zeros((n, 17, 3), np.float32)
        res.scores = np.linspace(1, 0.1, n).astype(np.float32)
        res.boxes = np.tile(np.array([[1, 2, 30, 40]], np.float32), (n, 1))
        res.areas = np.bincount(res.labels.ravel(), minlength=n + 1)[1:].astype(np.int64)
        res.centers = np.zeros((n, 2), np.float32)
        _assert_same(result_to_frame(res, lb), result_to_frame(res, lb, labels="dense"))


def test_a_label_map_one_pixel_short_is_cropped_as_slicing_does() -> None:
    lb = letterbox_params(1920, 1080, SIZE, SIZE)  # content rows 32..104 of 129
    res = FrameResult.empty(SIZE - 1, SIZE - 1)
    res.labels = _random_labels(3, np.random.default_rng(1))[:SIZE - 1, :SIZE - 1].copy()
    res.keypoints, res.scores = np.zeros((3, 17, 3), np.float32), np.ones(3, np.float32)
    res.boxes, res.centers = np.zeros((3, 4), np.float32), np.zeros((3, 2), np.float32)
    res.areas = np.zeros(3, np.int64)
    _assert_same(result_to_frame(res, lb), result_to_frame(res, lb, labels="dense"))


def test_replacing_the_labels_replaces_the_masks() -> None:
    lb = letterbox_params(640, 360, DECODE_SIZE, DECODE_SIZE)
    fast = result_to_frame(_decoded(640, 360, 0), lb)
    assert fast.num_players > 0
    fast.labels = np.zeros((360, 640), np.int32)
    assert fast.rle(0) == {"size": [360, 640], "counts": [360 * 640]}
    assert not rle_mask(fast.rle(0), *fast.size).any()


def test_json_of_a_mapped_result_reads_back_as_its_masks() -> None:
    lb = letterbox_params(1280, 720, DECODE_SIZE, DECODE_SIZE)
    fast = result_to_frame(_decoded(1280, 720, 1), lb)
    record = json.loads(fast.to_json())
    assert record["size"] == [720, 1280] and len(record["players"]) == fast.num_players
    for i, player in enumerate(record["players"]):
        np.testing.assert_array_equal(rle_mask(player["mask"], *fast.size), fast.labels == i + 1)
