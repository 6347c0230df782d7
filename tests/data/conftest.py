"""Fixtures for the data tests: a small spec and hand-made annotations."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.annotations import Annotation
from dsl_deploy.spec import default_spec


@pytest.fixture
def spec129():
    """A 129x129 input spec (17x17 PIF grid)."""
    return default_spec("resnet18", 129)


@pytest.fixture
def make_ann():
    """Factory of hand-made annotations (see make_annotation)."""
    return make_annotation


def make_annotation(size: int = 129, boxes=((40, 60, 50, 70),), keypoints=None, ball=None, ignore=None):
    """Players as filled boxes (y0, y1, x0, x1), keypoints {(player, type): (x, y, v)}."""
    inst = np.zeros((size, size), np.int32)
    for n, (y0, y1, x0, x1) in enumerate(boxes):
        inst[y0:y1, x0:x1] = n + 1
    kp = np.zeros((len(boxes), 17, 3), np.float32)
    for (n, k), v in (keypoints or {}).items():
        kp[n, k] = v
    return Annotation(inst, kp, ball=ball, ignore=ignore).validate()
