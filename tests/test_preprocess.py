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


def _per_pixel(frame: np.ndarray, spec, interp: int) -> np.ndarray:
    """The preprocessing as a plain canvas: letterbox with `interp`, then (v / 255 - mean) / std per pixel."""
    import cv2

    inp = spec.input
    lb = letterbox_params(frame.shape[1], frame.shape[0], inp.width, inp.height)
    canvas = np.full((inp.height, inp.width, 3), inp.pad_value, np.uint8)
    resized = cv2.resize(frame, (lb.resized_width, lb.resized_height), interpolation=interp if lb.scale_x < 1 else
                         cv2.INTER_LINEAR)
    canvas[lb.pad_y:lb.pad_y + lb.resized_height, lb.pad_x:lb.pad_x + lb.resized_width] = resized
    chw = canvas[:, :, ::-1].transpose(2, 0, 1)
    scale = (1.0 / (255.0 * np.asarray(inp.std, np.float32))).reshape(3, 1, 1)
    shift = (-np.asarray(inp.mean, np.float32) / np.asarray(inp.std, np.float32)).reshape(3, 1, 1)
    return chw * scale + shift


@pytest.mark.parametrize("resize", ["area", "linear"])
def test_one_pass_equals_the_per_pixel_arithmetic_as_frame_shapes_change(resize: str) -> None:
    import cv2

    spec = default_spec("resnet18", 97)
    pre = Preprocessor(spec, resize=resize)
    rng = np.random.default_rng(3)
    interp = cv2.INTER_AREA if resize == "area" else cv2.INTER_LINEAR
    # Landscape, portrait, square, enlarged, then landscape again: the padding follows each letterbox.
    for w, h in [(320, 180), (180, 320), (97, 97), (40, 30), (320, 180), (97, 60)]:
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        batch, _ = pre(frame)
        np.testing.assert_array_equal(batch[0], _per_pixel(frame, spec, interp))


def test_resize_modes_differ_only_when_shrinking() -> None:
    spec = default_spec("resnet18", 97)
    area, linear = Preprocessor(spec, resize="area"), Preprocessor(spec, resize="linear")
    rng = np.random.default_rng(4)
    big = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert not np.array_equal(area(big)[0], linear(big)[0])
    for frame in (rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 256, (73, 97, 3), dtype=np.uint8)):
        np.testing.assert_array_equal(area(frame)[0], linear(frame)[0])
    with pytest.raises(InputError, match="resize: expected one of linear, box-linear, area, got 'cubic'"):
        Preprocessor(spec, resize="cubic")


def test_batches_of_mixed_shapes_pad_each_slot() -> None:
    spec = default_spec("resnet18", 97)
    pre = Preprocessor(spec)
    rng = np.random.default_rng(6)
    frames = [rng.integers(0, 256, s, dtype=np.uint8) for s in ((200, 100, 3), (100, 200, 3))]
    batch, boxes = pre(frames)
    batch, boxes = pre(frames[::-1])  # each slot's letterbox changes
    for i, frame in enumerate(frames[::-1]):
        np.testing.assert_array_equal(batch[i], Preprocessor(spec)(frame)[0][0])


def test_box_linear_halves_then_interpolates() -> None:
    import cv2

    spec = default_spec("resnet18", 97)
    pre = Preprocessor(spec, resize="box-linear")
    rng = np.random.default_rng(8)
    frame = rng.integers(0, 256, (240, 400, 3), dtype=np.uint8)  # 400 -> 200 -> 100 (>= 2 x 97: halve) -> 97
    half = cv2.resize(cv2.resize(frame, (200, 120), interpolation=cv2.INTER_AREA), (100, 60),
                      interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(pre(frame)[0][0], _per_pixel(half, spec, cv2.INTER_LINEAR))
    odd = rng.integers(0, 256, (241, 401, 3), dtype=np.uint8)  # odd sides: no halving, INTER_LINEAR alone
    np.testing.assert_array_equal(pre(odd)[0][0], _per_pixel(odd, spec, cv2.INTER_LINEAR))
