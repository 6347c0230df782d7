"""COCO-format loader on a tiny fixture written by the test: filter, masks, crowd, ball, errors."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dsl_deploy.data.coco import CocoDataset
from dsl_deploy.data.coco_masks import polygon_mask
from dsl_deploy.errors import DataError
from dsl_deploy.rle import decode_rle_string, mask_to_rle, rle_mask

W, H = 80, 60


def _person(i, img, x0, y0, x1, y1, kp=None, **extra):
    seg = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    k = [0] * 51
    for t, (x, y, v) in (kp or {}).items():
        k[3 * t:3 * t + 3] = [x, y, v]
    return {"id": i, "image_id": img, "category_id": 1, "segmentation": seg, "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": (x1 - x0) * (y1 - y0), "iscrowd": 0, "keypoints": k, "num_keypoints": 1, **extra}


def _write(tmp_path, data, images=(1, 2, 3, 4)):
    for i in images:
        cv2.imwrite(str(tmp_path / f"im{i}.png"), np.full((H, W, 3), 40 * i, np.uint8))
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def _data():
    crowd = np.zeros((H, W), bool)
    crowd[0:10, 60:80] = True
    return {
        "images": [{"id": i, "file_name": f"im{i}.png", "width": W, "height": H} for i in (1, 2, 3, 4)],
        "categories": [{"id": 1, "name": "person"}, {"id": 37, "name": "sports ball"}, {"id": 3, "name": "car"}],
        "annotations": [
            _person(10, 1, 10, 10, 20, 40, {9: (12, 20, 2), 10: (18, 21, 1)}),  # 300 px = 6%: kept
            _person(11, 1, 30, 10, 40, 30),
            {"id": 12, "image_id": 1, "category_id": 37, "segmentation": [[50, 40, 56, 40, 56, 46, 50, 46]],
             "bbox": [50, 40, 6, 6], "area": 36, "iscrowd": 0},
            {"id": 13, "image_id": 1, "category_id": 1, "segmentation": mask_to_rle(crowd), "bbox": [60, 0, 20, 10],
             "area": 200, "iscrowd": 1},
            _person(20, 2, 0, 0, 40, 30),  # 1200 px = 25% of the image: image 2 dropped
            {"id": 30, "image_id": 3, "category_id": 3, "segmentation": [[1, 1, 5, 1, 5, 5]], "bbox": [1, 1, 4, 4],
             "area": 8, "iscrowd": 0},  # only a car: image 3 dropped
            {"id": 40, "image_id": 4, "category_id": 37, "segmentation": [[10, 10, 20, 10, 20, 20, 10, 20]],
             "bbox": [10, 10, 10, 10], "area": 100, "iscrowd": 0},  # ball only: kept
        ],
    }


def test_loads_filters_and_decodes(tmp_path):
    ds = CocoDataset(_write(tmp_path, _data()), tmp_path)
    assert [im.id for im in ds.images] == [1, 4]
    img, ann = ds[0]
    assert img.shape == (H, W, 3) and ann.num_players == 2
    # Polygon [10, 20) x [10, 40) in continuous coordinates covers exactly those pixels.
    assert (ann.instances == 1).sum() == 300 and ann.instances[10:40, 10:20].min() == 1
    np.testing.assert_allclose(ann.keypoints[0, 9], (12, 20, 2))
    np.testing.assert_allclose(ann.keypoints[0, 10], (18, 21, 1))
    np.testing.assert_allclose(ann.ball, (52.5, 42.5, 3.0))
    assert ann.ignore is not None and ann.ignore.sum() == 200 and ann.ignore[5, 70]
    np.testing.assert_array_equal(ann.crowd, ann.ignore)  # COCO's ignore pixels are its crowd regions
    _img, ann4 = ds[1]
    assert ann4.num_players == 0 and ann4.ball is not None and ann4.ignore is None
    assert len(CocoDataset(tmp_path / "ann.json", tmp_path, max_person_fraction=None)) == 3
    assert len(CocoDataset(tmp_path / "ann.json", tmp_path, keep_empty=True)) == 4


def _same_but_edges(ours, ref):
    """pycocotools rasterises on a 5x finer grid: only pixels on the reference's edge may differ."""
    pad = np.pad(ref, 1, mode="edge")
    mixed = np.zeros_like(ref)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            mixed |= pad[dy:dy + ref.shape[0], dx:dx + ref.shape[1]] != ref
    assert not ((ours != ref) & ~mixed).any()
    assert (ours != ref).sum() <= 0.05 * ref.sum()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own numpy 2 warning
def test_compressed_rle_matches_pycocotools():
    mask_util = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    m = np.zeros((37, 53), np.uint8)
    for _ in range(6):
        x, y = rng.integers(0, 45), rng.integers(0, 30)
        m[y:y + rng.integers(1, 9), x:x + rng.integers(1, 9)] = 1
    enc = mask_util.encode(np.asfortranarray(m))
    counts = enc["counts"].decode()
    np.testing.assert_array_equal(rle_mask({"size": [37, 53], "counts": counts}, 37, 53), m.astype(bool))
    poly = [[3.2, 4.7, 30.1, 6.0, 25.5, 28.9, 6.0, 20.0]]
    ref = mask_util.decode(mask_util.merge(mask_util.frPyObjects(poly, 37, 53))).astype(bool)
    ours = polygon_mask(poly, 37, 53)
    _same_but_edges(ours, ref)
    two = [[1, 1, 9, 1, 9, 9, 1, 9], [20.3, 2.2, 40.7, 5.1, 33.3, 30.6]]
    ref2 = mask_util.decode(mask_util.merge(mask_util.frPyObjects(two, 37, 53))).astype(bool)
    _same_but_edges(polygon_mask(two, 37, 53), ref2)


def test_rle_string_round_trip_small():
    # From the fourth count on, each is a delta over the count two places back: '0' repeats 2, '1' is 5 + 1.
    assert decode_rle_string("32501") == [3, 2, 5, 2, 6]
    assert decode_rle_string("N") == [-2]  # 'N' = 30: bit 0x10 on a last character sign-extends
    with pytest.raises(ValueError, match="invalid character"):
        decode_rle_string("3 2")
    assert rle_mask({"size": [2, 3], "counts": [1, 2, 3]}, 2, 3).tolist() == [[False, True, False],
                                                                           [True, False, False]]


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["annotations"][1].update(segmentation="oops"), r"annotations\[1\] \(id 11\): segmentation is str"),
    (lambda d: d["annotations"][1].update(segmentation=[[1, 2, 3]]),
     r"annotations\[1\] \(id 11\): segmentation is malformed: polygon 0"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2]), r"annotations\[0\] \(id 10\): keypoints must be 51"),
    (lambda d: d["annotations"][0].update(image_id=99), r"annotations\[0\] \(id 10\): image_id 99"),
    (lambda d: d["annotations"][3]["segmentation"].update(counts=[5, 5]), r"id 13\).*counts sum to 10"),
    (lambda d: d["images"][0].pop("width"), r"images\[0\]: missing 'width'"),
    (lambda d: d.pop("annotations"), "missing or non-list 'annotations'"),
    (lambda d: d.update(categories=[{"id": 3, "name": "car"}]), "no 'person' or 'sports ball'"),
])
def test_malformed_entries_name_file_and_entry(tmp_path, mutate, match):
    data = _data()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(DataError, match=match) as err:
        ds = CocoDataset(path, tmp_path)
        for i in range(len(ds)):
            ds[i]
    assert "ann.json" in str(err.value)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        CocoDataset(tmp_path / "nope.json", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: the COCO JSON file is not readable JSON"):
        CocoDataset(tmp_path / "bad.json", tmp_path)
    path = _write(tmp_path, _data(), images=(4,))
    ds = CocoDataset(path, tmp_path)
    with pytest.raises(DataError, match=r"im1.png: image file .* is missing"):
        ds[0]
    (tmp_path / "im1.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read the image"):
        ds[0]
    jpeg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8))[1].tobytes()
    (tmp_path / "im1.png").write_bytes(jpeg[: len(jpeg) // 2])  # truncated: imread would pad it with grey
    with pytest.raises(DataError, match="cannot read the image"):
        ds[0]
    cv2.imwrite(str(tmp_path / "im1.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(DataError, match="image is 10x10 but"):
        ds[0]


def test_default_image_dir_follows_coco_layout(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    data = _data()
    for im in data["images"]:
        cv2.imwrite(str(tmp_path / "val2017" / im["file_name"]), np.zeros((H, W, 3), np.uint8))
    path = tmp_path / "annotations" / "person_keypoints_val2017.json"
    path.write_text(json.dumps(data))
    ds = CocoDataset(path)
    assert ds.image_dir == tmp_path / "val2017" and ds[0][0].shape == (H, W, 3)
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(data))
    assert CocoDataset(flat).image_dir == tmp_path


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["annotations"][0].update(id=[1, 2]), r"field 'annotations\[0\].id' is a list of 2 item\(s\); "
                                                      "expected an integer or a string id"),
    (lambda d: d["annotations"][0].update(image_id=[1]), r"field 'annotations\[0\].image_id' is a list"),
    (lambda d: d["images"][0].update(id={"a": 1}), r"field 'images\[0\].id' is an object"),
    (lambda d: d["categories"][0].update(id=[1]), r"field 'categories\[0\].id' is a list"),
    (lambda d: d["annotations"][0].update(category_id=[1]), r"field 'annotations\[0\].category_id' is a list"),
    (lambda d: d["images"][0].update(width=80.5), r"field 'images\[0\].width' is 80.5; expected an integer"),
    (lambda d: d["images"][0].update(file_name="im1\x1b[2J.png"), r"'images\[0\].file_name' is \"im1\\x1b"),
    (lambda d: d["annotations"][0].update(iscrowd="no"), r"field 'annotations\[0\].iscrowd' is \"no\"; expected 0"),
])
def test_f6_ids_as_lists_and_other_mistyped_fields_name_file_and_field(tmp_path, mutate, match):
    data = _data()
    mutate(data)
    with pytest.raises(DataError, match=match) as err:
        CocoDataset(_write(tmp_path, data), tmp_path)
    assert str(err.value).startswith(str(tmp_path / "ann.json"))


def test_f6_huge_coordinates_are_refused_without_numpy_overflow_warnings(tmp_path):
    import warnings

    for field, value in (("keypoints", [1e39] * 51), ("bbox", [0, 0, 1e300, 5])):
        data = _data()
        data["annotations"][0][field] = value
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a RuntimeWarning (overflow in cast) would fail here
            with pytest.raises(DataError, match=f"annotations\\[0\\] \\(id 10\\): {field} must be"):
                CocoDataset(_write(tmp_path, data), tmp_path)


def test_f6_rle_counts_too_large_for_int64_are_a_data_error(tmp_path):
    data = _data()
    data["annotations"][3]["segmentation"] = {"size": [H, W], "counts": [10 ** 30, 4800]}
    ds = CocoDataset(_write(tmp_path, data), tmp_path)
    with pytest.raises(DataError, match=r"annotations\[3\] \(id 13\): segmentation is malformed"):
        ds.annotation(0)


def test_f4_deeply_nested_coco_file_is_one_clear_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"images": [], "info": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DataError, match="deep.json: the COCO JSON file is nested too deeply"):
        CocoDataset(path, tmp_path)
