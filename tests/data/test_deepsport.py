"""DeepSport (Basketball Instants Dataset) loader on a fixture folder in the published layout."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dsl_deploy.data.deepsport import DATABASE, Camera, DeepSportDataset
from dsl_deploy.errors import DataError

W, H = 160, 120
K = [[100.0, 0.0, 80.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]]


def _write(root, *, kc=(0, 0, 0, 0, 0), instants=None, humans=True):
    game = root / "KS-FR-TEST" / "42"
    game.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(game / "camcourt1_1000_0.png"), np.full((H, W, 3), 90, np.uint8))
    cv2.imwrite(str(game / "camcourt2_1000_0.png"), np.full((H, W, 3), 90, np.uint8))
    for c in (1, 2):
        (game / f"camcourt{c}_1000.json").write_text(json.dumps({"calibration": {
            "img_width": W, "img_height": H, "KK": sum(K, []), "R": [1, 0, 0, 0, 1, 0, 0, 0, 1],
            "T": [0, 0, 1000], "kc": list(kc)}}))
    if humans:
        m = np.zeros((H, W), np.uint16)
        m[35:86, 70:91] = 1000  # the annotated player
        m[10:30, 10:20] = 1001  # a human without a pose
        m[100:110, 140:150] = 3000  # something else: ignored
        cv2.imwrite(str(game / "camcourt1_1000_humans.png"), m)
    player = {"type": "player", "team": 1, "head": [0, -200, 0], "hips": [0, 0, 0], "foot1": [-50, 200, 0],
              "foot2": [50, 200, 0], "headOrientation": 0.0, "image": 0, "foot1_at_the_ground": True,
              "foot2_at_the_ground": True}
    far = dict(player, head=[5000, 0, 0], hips=[5000, 0, 0], foot1=[5000, 0, 0], foot2=[5000, 0, 0])
    ball = {"type": "ball", "center": [300, 0, 0], "image": 0, "visible": True, "state": 1}
    db = instants if instants is not None else [{
        "arena_label": "KS-FR-TEST", "game_id": 42, "timestamp": 1000, "num_cameras": 2, "offsets": [0, 40],
        "rule_type": "FIBA", "annotations": [player, far, ball], "annotated_human_masks": True}]
    (root / DATABASE).write_text(json.dumps(db))
    return root


def test_loads_masks_poses_ball(tmp_path):
    ds = DeepSportDataset(_write(tmp_path))
    assert len(ds) == 1  # camera 2 has no human mask
    img, ann = ds[0]
    assert img.shape == (H, W, 3) and ann.pose_format == "deepsport"
    assert ann.num_players == 2 and (ann.instances == 1).sum() == 51 * 21
    # head, hips, foot1, foot2 projected through K [R|T].
    np.testing.assert_allclose(ann.keypoints[0], [[80, 40, 2], [80, 60, 2], [75, 80, 2], [85, 80, 2]], atol=1e-4)
    assert (ann.keypoints[1] == 0).all()
    np.testing.assert_allclose(ann.ball, (110, 60, 100 * 11.9 / 1000), atol=1e-5)
    assert ann.ignore is not None and ann.ignore.sum() == 100 and ann.court is None


def test_scale_and_court(tmp_path):
    ds = DeepSportDataset(_write(tmp_path), scale=0.5, with_court=True)
    img, ann = ds[0]
    assert img.shape == (60, 80, 3)
    np.testing.assert_allclose(ann.keypoints[0, 1, :2], (39.75, 29.75), atol=1e-4)  # pixel-centre scaling
    assert ann.court is not None and ann.court.shape == (60, 80)


def test_distortion_matches_opencv():
    kc = np.array([0.05, -0.01, 0.002, -0.001, 0.003])
    cam = Camera(W, H, np.array(K), np.eye(3), np.array([0.0, 0.0, 1000.0]), kc)
    pts = np.array([[300.0, -200.0, 10.0], [-400.0, 250.0, -30.0], [0.0, 0.0, 0.0]])
    ours, depth = cam.project(pts)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), cam.T, cam.K, kc)
    np.testing.assert_allclose(ours, ref[:, 0], atol=1e-6)
    np.testing.assert_allclose(depth, 1000 + pts[:, 2])


@pytest.mark.parametrize("mutate, match", [
    (lambda db: db[0].pop("num_cameras"), r"instant \[0\]: missing 'num_cameras'"),
    (lambda db: db[0]["annotations"][0].update(head=[1, 2]), r"instant \[0\] annotations\[0\]: 'head' must be"),
    (lambda db: db[0]["annotations"][2].update(type="referee"), r"annotations\[2\]: expected an object with type"),
    (lambda db: db[0]["annotations"][2].update(image="cam1"), r"'image' \(the camera index\)"),
])
def test_malformed_database(tmp_path, mutate, match):
    _write(tmp_path)
    db = json.loads((tmp_path / DATABASE).read_text())
    mutate(db)
    (tmp_path / DATABASE).write_text(json.dumps(db))
    with pytest.raises(DataError, match=match) as err:
        DeepSportDataset(tmp_path)
    assert DATABASE in str(err.value)


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="database file not found"):
        DeepSportDataset(tmp_path)
    _write(tmp_path)
    game = tmp_path / "KS-FR-TEST" / "42"
    (game / "camcourt1_1000.json").write_text('{"calib": {}}')
    with pytest.raises(DataError, match=r"camcourt1_1000.json: field 'calibration' is missing"):
        DeepSportDataset(tmp_path)[0]
    _write(tmp_path)
    cv2.imwrite(str(game / "camcourt1_1000_humans.png"), np.zeros((10, 10), np.uint16))
    with pytest.raises(DataError, match=r"humans.png: mask is 10x10 but the image is 160x120"):
        DeepSportDataset(tmp_path)[0]
    _write(tmp_path)
    (game / "camcourt1_1000_0.png").unlink()
    with pytest.raises(DataError, match=r"camcourt1_1000_0.png: image is missing"):
        DeepSportDataset(tmp_path)[0]
    (tmp_path / DATABASE).write_text('{"not": "a list"}')
    with pytest.raises(DataError, match="expected a JSON list"):
        DeepSportDataset(tmp_path)


def _calibration(root, **changes):
    path = root / "KS-FR-TEST" / "42" / "camcourt1_1000.json"
    doc = json.loads(path.read_text())
    doc["calibration"].update(changes)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("changes,match", [
    ({"kc": [float("nan"), 0, 0, 0, 0]}, r"field 'calibration.kc\[0\]' is NaN; expected a finite number"),
    ({"KK": [[0, 0, 0], [0, 0, 0], [0, 0, 1]]}, r"field 'calibration.KK' is singular"),
    ({"KK": [[100, 0, 80], [200, 0, 160], [0, 0, 1]]}, r"field 'calibration.KK' is singular"),
    ({"R": "identity"}, r"field 'calibration.R' is \"identity\"; expected a list of 9 numbers"),
    ({"T": [0, 0, float("inf")]}, r"field 'calibration.T\[2\]' is Infinity"),
    ({"img_width": "160"}, r"field 'calibration.img_width' is \"160\"; expected an integer"),
])
def test_f7_bad_calibration_values_name_the_file_and_field(tmp_path, changes, match):
    root = _write(tmp_path)
    path = _calibration(root, **changes)
    with pytest.raises(DataError, match=match) as err:
        DeepSportDataset(root)[0]
    assert str(err.value).startswith(str(path))


@pytest.mark.parametrize("key,value,match", [
    ("offsets", {"a": 1}, r"'offsets' must be a non-empty list of integers"),
    ("offsets", 5, r"'offsets' must be a non-empty list of integers"),
    ("offsets", [], r"'offsets' must be a non-empty list of integers"),
    ("offsets", ["0"], r"'offsets' must be a non-empty list of integers"),
    ("num_cameras", 3_000_000, r"num_cameras must be an integer in \[1, 64\], got 3000000"),
    ("num_cameras", True, r"num_cameras must be an integer"),
    ("arena_label", "../../etc", r"'arena_label' must be a name or a number usable in a file name"),
    ("game_id", [42], r"'game_id' must be a name or a number"),
])
def test_f7_mistyped_instants_and_huge_num_cameras_are_refused_at_once(tmp_path, key, value, match):
    import time

    root = _write(tmp_path)
    db = json.loads((root / DATABASE).read_text())
    db[0][key] = value
    (root / DATABASE).write_text(json.dumps(db))
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=match):
        DeepSportDataset(root)
    assert time.perf_counter() - t0 < 5  # 3,000,000 cameras took 32 s of indexing before


def test_f7_nan_and_huge_world_points_are_refused(tmp_path):
    root = _write(tmp_path)
    db = json.loads((root / DATABASE).read_text())
    db[0]["annotations"][0]["head"] = [float("nan"), 0, 0]
    (root / DATABASE).write_text(json.dumps(db))
    with pytest.raises(DataError, match=r"annotations\[0\]: 'head' must be a 3-D point \[x, y, z\] of finite cm"):
        DeepSportDataset(root)
