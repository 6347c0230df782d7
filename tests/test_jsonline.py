"""JSON lines: orjson (when installed) and the standard library give the same values for a frame record."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dsl_deploy import jsonline
from dsl_deploy.result import Ball, FrameResult


def _record() -> dict:
    labels = np.zeros((40, 60), np.int32)
    labels[5:30, 10:20] = 1
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 3] = (12.25, 7.5, 0.000012)
    res = FrameResult(labels=labels, keypoints=kp, scores=np.array([0.91234567], np.float32),
                      boxes=np.array([[10, 5, 20, 30]], np.float32), areas=np.array([250]),
                      centers=np.array([[15, 17]], np.float32), ball=Ball(3.0, 4.0, 0.5), timings={"map": 0.1234})
    out = res.to_dict()
    out.update(frame=3, source="caméra 1", timestamp=1.5)
    return out


def test_engines_agree_on_values() -> None:
    pytest.importorskip("orjson")
    rec = _record()
    fast, slow = jsonline.dumps(rec, engine="orjson"), jsonline.dumps(rec, engine="json")
    assert json.loads(fast) == json.loads(slow) == json.loads(json.dumps(rec))
    assert b"\n" not in fast and b", " not in slow  # one compact line either way


def test_fallback_and_bad_engine() -> None:
    assert jsonline.dumps({"a": [1, 2.5]}, engine="json") == b'{"a":[1,2.5]}'
    assert jsonline.ENGINE in jsonline.ENGINES
    with pytest.raises(ValueError, match="engine must be one of orjson, json, got 'yaml'"):
        jsonline.dumps({}, engine="yaml")
