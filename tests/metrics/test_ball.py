"""bDQ: exact ROC AUC (equal to scikit-learn's) and the per-frame rule for hits, misses and false positives."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dsl_deploy.errors import InputError
from dsl_deploy.metrics.ball import BallAccumulator, ball_samples, roc_auc, roc_curve
from dsl_deploy.result import Ball


@pytest.mark.parametrize("seed", range(4))
def test_auc_equals_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = np.round(rng.normal(0.6, 0.2, 40), 1)  # rounding makes many ties across both classes
    neg = np.round(rng.normal(0.4, 0.2, 55), 1)
    ref = roc_auc_score(np.r_[np.ones(40), np.zeros(55)], np.r_[pos, neg])
    assert roc_auc(pos, neg) == pytest.approx(ref, abs=1e-12)


def test_accumulator_equals_sklearn_when_every_detection_hits_or_has_no_ball() -> None:
    rng = np.random.default_rng(7)
    acc = BallAccumulator()
    labels, scores = [], []
    for _ in range(60):
        s = float(rng.random())
        if rng.random() < 0.5:
            acc.add(Ball(100.0, 50.0, s), (101.0, 52.0, 6.0))  # a hit
            labels.append(1)
        else:
            acc.add(Ball(10.0, 10.0, s), None)  # a frame without a ball
            labels.append(0)
        scores.append(s)
    assert acc.bdq() == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_frame_rules() -> None:
    gt = (100.0, 100.0, 4.0)
    assert ball_samples(Ball(103.0, 103.0, 0.7), gt) == ([0.7], [])  # 4.2 px: within max(4, 5) px
    assert ball_samples(Ball(106.0, 100.0, 0.7), gt) == ([-math.inf], [0.7])  # far: a miss and an FP
    assert ball_samples(Ball(106.0, 100.0, 0.7), gt, tp_radii=2.0) == ([0.7], [])
    assert ball_samples(None, gt) == ([-math.inf], [])
    assert ball_samples(Ball(1.0, 1.0, 0.3), None) == ([], [0.3])
    assert ball_samples(None, None) == ([], [-math.inf])
    with pytest.raises(InputError, match="finite"):
        ball_samples(Ball(1.0, 1.0, float("nan")), None)


def test_perfect_detector_and_far_detections() -> None:
    perfect = BallAccumulator()
    for i in range(5):
        perfect.add(Ball(50.0, 50.0, 0.9), (50.0, 51.0, 3.0))
        perfect.add(Ball(5.0, 5.0, 0.2), None)
        perfect.add(None, None)
    assert perfect.bdq() == pytest.approx(1.0)
    # Far detections: the balls are never hit, so the curve stays at TPR 0 until the -inf group.
    far = BallAccumulator()
    for i in range(5):
        far.add(Ball(500.0, 500.0, 0.9), (50.0, 50.0, 3.0))
        far.add(Ball(5.0, 5.0, 0.2), None)
    fpr, tpr = roc_curve(np.asarray(far.positive), np.asarray(far.negative))
    assert tpr[-2] == 0.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    assert far.bdq() == pytest.approx(0.0)
    assert far.counts() == {"balls": 5, "hits": 0, "negatives": 10}


def test_undefined_without_both_kinds() -> None:
    acc = BallAccumulator()
    acc.add(Ball(1.0, 1.0, 0.5), (1.0, 1.0, 2.0))
    assert math.isnan(acc.bdq())
    with pytest.raises(InputError, match="NaN"):
        roc_auc(np.array([0.5, np.nan]), np.array([0.1]))


def test_a_detector_ranked_by_chance_scores_half_its_hit_rate_not_fifty() -> None:
    # Every frame has a ball and a detection; 1 in 10 detections hits, and the hits' scores are drawn like the
    # misses'. A missed ball is a positive at -inf and its detection a negative: the AUC is about the hit rate
    # times 0.5 (the chance that a hit outranks a miss), so a bDQ far below 50 need not mean an inverted ranking.
    rng = np.random.default_rng(3)
    acc = BallAccumulator()
    for i in range(2000):
        s = float(rng.random())
        acc.add(Ball(50.0, 50.0, s) if i % 10 == 0 else Ball(150.0, 50.0, s), (50.0, 50.0, 4.0))
    hits = acc.counts()["hits"]
    assert hits == 200
    assert acc.bdq() == pytest.approx(0.5 * hits / 2000, abs=0.005)
