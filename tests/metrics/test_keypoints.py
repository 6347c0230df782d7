"""OKS AP/AR: agreement with pycocotools' COCOeval, the DeepSport 4-keypoint conversion and the feet swap."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.metrics.keypoints import (FEET_SWAP, OksAccumulator, deepsport_sigmas, oks_matrix,
                                          to_deepsport)
from dsl_deploy.spec import COCO_SIGMAS, ModelSpec

SIGMAS = np.asarray(ModelSpec().sigmas[:17])


def _scene(rng: np.random.Generator, n_images: int):
    """Synthetic images: annotated poses, and detections that are noisy copies, duplicates and strays."""
    images = []
    for _ in range(n_images):
        g = int(rng.integers(0, 6))
        centre = rng.uniform(50, 450, size=(g, 1, 2))
        gt = np.zeros((g, 17, 3))
        gt[:, :, :2] = centre + rng.normal(0, 25, size=(g, 17, 2))
        gt[:, :, 2] = rng.choice([0, 1, 2], p=[0.2, 0.2, 0.6], size=(g, 17))
        if g:
            gt[0, :, 2] *= rng.random() < 0.3  # sometimes an annotation without any labelled keypoint
        areas = rng.uniform(400, 9000, size=g)
        boxes = np.concatenate([centre[:, 0] - 40, np.full((g, 2), 80.0)], axis=1) if g else np.zeros((0, 4))
        dets, scores = [], []
        for j in range(g):
            for _ in range(int(rng.integers(0, 3))):
                noise = rng.normal(0, rng.uniform(0.5, 12), size=(17, 2))
                d = np.concatenate([gt[j, :, :2] + noise, rng.random((17, 1))], axis=1)
                dets.append(d)
                scores.append(rng.random())
        for _ in range(int(rng.integers(0, 4))):
            d = np.concatenate([rng.uniform(0, 500, size=(1, 2)) + rng.normal(0, 20, (17, 2)), rng.random((17, 1))], 1)
            dets.append(d)
            scores.append(rng.random())
        dets = np.asarray(dets).reshape(-1, 17, 3)
        images.append((gt, areas, boxes, dets, np.asarray(scores)))
    return images


def _pycocotools(images) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_json = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    results = []
    aid = 1
    for i, (gt, areas, boxes, dets, scores) in enumerate(images, start=1):
        gt_json["images"].append({"id": i, "width": 500, "height": 500})
        for j in range(gt.shape[0]):
            gt_json["annotations"].append({
                "id": aid, "image_id": i, "category_id": 1, "iscrowd": 0, "area": float(areas[j]),
                "bbox": [float(v) for v in boxes[j]], "keypoints": gt[j].ravel().tolist(),
                "num_keypoints": int((gt[j, :, 2] > 0).sum())})
            aid += 1
        for d, s in zip(dets, scores):
            results.append({"image_id": i, "category_id": 1, "keypoints": d.ravel().tolist(), "score": float(s)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt_json
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), iouType="keypoints")
        ev.params.kpt_oks_sigmas = SIGMAS
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # stats: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl
    return {"AP": ev.stats[0], "AP50": ev.stats[1], "AP75": ev.stats[2], "AR": ev.stats[5]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_ar_equal_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = _scene(rng, 12)
    acc = OksAccumulator(SIGMAS)
    for gt, areas, boxes, dets, scores in images:
        acc.add(dets, scores, gt, areas, gt_boxes=boxes)
    ours = acc.summary()
    ref = _pycocotools(images)
    assert 0.05 < ours["AP"] < 0.95  # a varied case, neither trivial nor empty
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, abs=1e-9), k
    assert ours["F1"] == pytest.approx(2 * ours["AP"] * ours["AR"] / (ours["AP"] + ours["AR"]))


def test_more_than_20_detections_keeps_the_best_20() -> None:
    rng = np.random.default_rng(5)
    gt = np.zeros((25, 17, 3))
    gt[:, :, :2] = rng.uniform(0, 1000, size=(25, 1, 2)) + rng.normal(0, 10, (25, 17, 2))
    gt[:, :, 2] = 2
    areas = np.full(25, 2000.0)
    dets = np.concatenate([gt[:, :, :2], np.ones((25, 17, 1))], axis=2)
    scores = np.linspace(1, 0.1, 25)
    images = [(gt, areas, np.zeros((25, 4)), dets, scores)]
    acc = OksAccumulator(SIGMAS)
    acc.add(dets, scores, gt, areas)
    assert acc.summary()["AR"] == pytest.approx(20 / 25)
    assert acc.summary()["AR"] == pytest.approx(_pycocotools(images)["AR"])


def test_perfect_and_empty() -> None:
    gt = np.zeros((2, 17, 3))
    gt[0, :, :2] = np.arange(34).reshape(17, 2) * 3
    gt[1, :, :2] = gt[0, :, :2] + 200
    gt[:, :, 2] = 2
    acc = OksAccumulator(SIGMAS)
    acc.add(gt.copy(), [0.9, 0.8], gt, [1000, 1000])
    s = acc.summary()
    assert s["AP"] == pytest.approx(1.0) and s["AR"] == pytest.approx(1.0) and s["F1"] == pytest.approx(1.0)
    empty = OksAccumulator(SIGMAS)
    empty.add(np.zeros((0, 17, 3)), [], np.zeros((0, 17, 3)), [])
    assert np.isnan(empty.summary()["AP"])
    missed = OksAccumulator(SIGMAS)
    missed.add(np.zeros((0, 17, 3)), [], gt, [1000, 1000])
    assert missed.summary()["AP"] == 0.0 and missed.summary()["AR"] == 0.0


def test_ignored_annotation_absorbs_its_detection() -> None:
    gt = np.zeros((1, 17, 3))
    gt[0, :, :2] = np.arange(34).reshape(17, 2)
    gt[0, :, 2] = 2
    counted = OksAccumulator(SIGMAS)
    counted.add(np.zeros((1, 17, 3)) + 500, [0.9], np.zeros((0, 17, 3)), [])
    counted.add(gt.copy(), [0.5], gt, [1000])
    ignored = OksAccumulator(SIGMAS)
    ignored.add(gt.copy(), [0.9], gt, [1000], gt_ignore=[True])  # an off-court player: detection ignored
    ignored.add(gt.copy(), [0.5], gt, [1000])
    assert counted.summary()["AP"] < 0.99  # the stray detection ranked first costs precision
    assert ignored.summary()["AP"] == pytest.approx(1.0)
    assert ignored.num_gt == 1


def test_deepsport_conversion_and_sigmas() -> None:
    kp = np.zeros((1, 17, 3))
    kp[0, 3] = (10, 20, 0.9)   # left ear
    kp[0, 4] = (14, 22, 0.8)   # right ear
    kp[0, 11] = (30, 60, 0.7)  # left hip
    kp[0, 15] = (25, 100, 0.6)  # left ankle
    kp[0, 16] = (35, 101, 0.5)  # right ankle
    ds = to_deepsport(kp)
    np.testing.assert_allclose(ds[0, 0], (12, 21, 0.9))
    np.testing.assert_allclose(ds[0, 1], (30, 60, 0.7))  # the right hip is missing: the left stands alone
    np.testing.assert_allclose(ds[0, 2:], kp[0, 15:17])
    kp[0, 3, 2] = kp[0, 4, 2] = 0
    assert np.isnan(to_deepsport(kp)[0, 0, 0]) and to_deepsport(kp)[0, 0, 2] == 0
    np.testing.assert_allclose(deepsport_sigmas(COCO_SIGMAS), (0.035, 0.107, 0.089, 0.089))
    with pytest.raises(InputError, match=r"\[N, 17, 3\]"):
        to_deepsport(np.zeros((1, 4, 3)))


def test_feet_swap_keeps_the_better_assignment() -> None:
    sig = deepsport_sigmas(COCO_SIGMAS)
    gt = np.array([[[50, 20, 2], [50, 60, 2], [40, 100, 2], [60, 100, 2]]], float)
    swapped = gt[:, [0, 1, 3, 2]].copy()  # the prediction's left ankle is on the annotation's foot 2
    plain = oks_matrix(swapped, gt, [1500.0], sig)
    best = oks_matrix(swapped, gt, [1500.0], sig, swap_pairs=FEET_SWAP)
    assert plain[0, 0] < 0.9 and best[0, 0] == pytest.approx(1.0)
    acc = OksAccumulator(sig, swap_pairs=FEET_SWAP)
    acc.add(swapped, [0.9], gt, [1500.0])
    assert acc.summary()["AP"] == pytest.approx(1.0)


def test_nonfinite_detection_point_counts_zero() -> None:
    gt = np.array([[[50, 20, 2], [50, 60, 2], [40, 100, 2], [60, 100, 2]]], float)
    det = gt.copy()
    det[0, 0, :2] = np.nan
    oks = oks_matrix(det, gt, [1500.0], deepsport_sigmas(COCO_SIGMAS))
    assert oks[0, 0] == pytest.approx(0.75)


def test_bad_shapes_are_named() -> None:
    acc = OksAccumulator(SIGMAS)
    with pytest.raises(InputError, match="scores"):
        acc.add(np.zeros((2, 17, 3)), [0.5], np.zeros((0, 17, 3)), [])
    with pytest.raises(InputError, match="areas"):
        acc.add(np.zeros((0, 17, 3)), [], np.ones((1, 17, 3)), [])
