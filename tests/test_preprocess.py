"""Letterbox geometry: the label map and the point mapping agree at every frame pixel."""
import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.preprocess import Preprocessor, letterbox_params
from dsl_deploy.spec import default_spec


@pytest.mark.parametrize("frame_w, frame_h", [(200, 150), (150, 200), (97, 97), (1280, 720), (31, 400)])
def test_labels_to_frame_matches_point_mapping(frame_w, frame_h):
    lb = letterbox_params(frame_w, frame_h, 97, 97)
    labels = np.random.default_rng(0).integers(0, 50, size=(97, 97)).astype(np.int32)
    back = lb.labels_to_frame(labels)
    assert back.shape == (frame_h, frame_w)
    ys, xs = np.mgrid[0:frame_h, 0:frame_w]
    xy = lb.to_input(np.stack([xs, ys], -1).reshape(-1, 2))
    src = np.floor(xy + 0.5).astype(int)  # nearest input pixel centre
    expected = labels[src[:, 1].clip(0, 96), src[:, 0].clip(0, 96)].reshape(frame_h, frame_w)
    # A frame pixel whose centre falls exactly between two input pixels may take either.
    tie = (np.abs(np.abs(xy - np.floor(xy)) - 0.5) < 1e-4).any(axis=1).reshape(frame_h, frame_w)
    assert tie.mean() < 0.5
    assert np.array_equal(back[~tie], expected[~tie])


def test_round_trip_of_points():
    lb = letterbox_params(1280, 720, 641, 641)
    pts = np.array([[0.0, 0.0], [639.5, 359.5], [1279.0, 719.0]])
    assert np.allclose(lb.to_frame(lb.to_input(pts)), pts, atol=1e-3)


def test_preprocess_rejects_bad_frames():
    pre = Preprocessor(default_spec("resnet18", 97))
    with pytest.raises(InputError, match="uint8"):
        pre(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="empty frame"):
        pre(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(InputError, match="shape"):
        pre(np.zeros((10, 10, 5), np.uint8))
    batch, boxes = pre(np.full((50, 100, 3), 255, np.uint8))
    assert batch.shape == (1, 3, 97, 97) and batch.dtype == np.float32 and boxes[0].pad_y > 0
