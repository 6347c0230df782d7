"""pSQ/pDQ on hand-made masks with known answers, void handling and the court rule."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.metrics.panoptic import PanopticCounts, on_court, panoptic_counts


def _boxes(shape, boxes) -> np.ndarray:
    """Label map with box i (x0, y0, x1, y1, exclusive ends) painted as i + 1."""
    m = np.zeros(shape, np.int32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        m[y0:y1, x0:x1] = i + 1
    return m


def test_known_answer() -> None:
    gt = _boxes((40, 60), [(0, 0, 10, 10), (20, 0, 30, 10), (40, 20, 50, 30)])
    # pred 1: gt 1 shifted by one column (IoU 90/110); pred 2 = gt 2 exactly; pred 3 a stray; gt 3 missed;
    # pred 4 overlaps gt 3 with IoU 25/175 < 0.5 -> an FP, and gt 3 stays an FN.
    pred = _boxes((40, 60), [(1, 0, 11, 10), (20, 0, 30, 10), (0, 30, 5, 35), (45, 25, 55, 35)])
    c = panoptic_counts(pred, gt)
    assert (c.tp, c.fp, c.fn) == (2, 2, 1)
    assert c.iou_sum == pytest.approx(90 / 110 + 1.0)
    assert c.sq == pytest.approx((90 / 110 + 1.0) / 2)
    assert c.dq == pytest.approx(2 / (2 + 1 + 0.5))
    assert c.pq == pytest.approx(c.sq * c.dq)


def test_labels_need_not_correspond() -> None:
    gt = _boxes((20, 20), [(0, 0, 5, 5), (10, 10, 15, 15)])
    pred = _boxes((20, 20), [(10, 10, 15, 15), (0, 0, 5, 5)])
    c = panoptic_counts(pred, gt)
    assert (c.tp, c.fp, c.fn, c.iou_sum) == (2, 0, 0, 2.0)


def test_void_pixels() -> None:
    gt = _boxes((20, 40), [(0, 0, 10, 10)])
    ignore = np.zeros((20, 40), bool)
    ignore[:, 20:] = True
    # The prediction spills 5 columns into void: those pixels leave the union, IoU stays 1.
    pred = np.zeros((20, 40), np.int32)
    pred[0:10, 0:10] = 1
    pred[0:10, 20:25] = 1
    pred[12:20, 20:40] = 2  # entirely in void: ignored, not a false positive
    pred[12:20, 14:22] = 3  # 16 of its 64 pixels in void: a false positive
    c = panoptic_counts(pred, gt, ignore=ignore)
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)
    assert c.iou_sum == pytest.approx(1.0)
    # Annotated pixels under void leave the annotation: a prediction of the remaining part matches exactly.
    ignore2 = np.zeros((20, 40), bool)
    ignore2[0:10, 0:4] = True
    c2 = panoptic_counts(_boxes((20, 40), [(4, 0, 10, 10)]), gt, ignore=ignore2)
    assert (c2.tp, c2.iou_sum) == (1, pytest.approx(1.0))


def test_court_discards_outside_instances() -> None:
    shape = (60, 60)
    court = np.zeros(shape, bool)
    court[30:, :] = True  # the floor: the lower half
    # gt 1 stands on the court (feet at row 39) with its head above the court line;
    # gt 2 stands outside (feet at row 20); gt 3 is on the court and missed.
    gt = _boxes(shape, [(0, 10, 10, 40), (30, 5, 40, 21), (50, 40, 55, 50)])
    pred = _boxes(shape, [(0, 10, 10, 40), (30, 5, 40, 21), (45, 5, 50, 15), (20, 45, 25, 50)])
    c = panoptic_counts(pred, gt, court=court)
    # TP: gt 1; gt 2's match is discarded; pred 3 (off court) discarded; pred 4 on court: FP; gt 3: FN.
    assert (c.tp, c.fp, c.fn) == (1, 1, 1)
    no_court = panoptic_counts(pred, gt)
    assert (no_court.tp, no_court.fp, no_court.fn) == (2, 2, 1)
    assert on_court(gt, court, 3, "foot").tolist() == [True, False, True]
    assert on_court(gt, court, 3, "centroid").tolist() == [False, False, True]  # centroid row 24.5
    assert on_court(gt, court, 3, "majority").tolist() == [False, False, True]  # 10 of 30 rows on court
    assert on_court(gt, None, 3).all()


def test_accumulation_and_undefined() -> None:
    total = PanopticCounts()
    assert np.isnan(total.sq) and np.isnan(total.dq)
    gt = _boxes((10, 10), [(0, 0, 4, 4)])
    total += panoptic_counts(gt, gt)
    total += panoptic_counts(np.zeros((10, 10), np.int32), gt)
    assert (total.tp, total.fn, total.sq, total.dq) == (1, 1, 1.0, pytest.approx(1 / 1.5))


def test_bad_inputs_are_named() -> None:
    gt = np.zeros((10, 10), np.int32)
    with pytest.raises(InputError, match="shape"):
        panoptic_counts(np.zeros((10, 11), np.int32), gt)
    with pytest.raises(InputError, match="integer"):
        panoptic_counts(np.zeros((10, 10), np.float32), gt)
    with pytest.raises(InputError, match="ignore"):
        panoptic_counts(gt, gt, ignore=np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="court_rule"):
        panoptic_counts(gt, gt, court_rule="middle")
