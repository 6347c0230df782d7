"""Agreement metrics between two sets of ready fields (what dsl-build reports after an INT8 build)."""
from __future__ import annotations

import numpy as np

from dsl_deploy.data.encode import ideal_fields
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.spec import default_spec
from dsl_deploy.tensorrt.agreement import decoded_agreement, field_agreement, merge

SPEC = default_spec("resnet18", 97)


def _fields(n=2):
    scenes = SyntheticScenes(3, 97, 97)
    per = [ideal_fields(scenes[i][1], SPEC) for i in range(n)]
    return {k: np.stack([p[k] for p in per]).astype(np.float32) for k in ("player", "offset", "pif")}


def test_identical_fields_agree_fully():
    ref = _fields()
    f = field_agreement(ref, {k: v.copy() for k, v in ref.items()}, SPEC)
    assert f["max_abs_player"] == 0 and f["player_mask_iou"] == 1 and f["ball_peak_distance_px"] == 0
    d = decoded_agreement(ref, ref, SPEC)
    assert d == {"decoded_same_player_count": 1.0, "decoded_center_match": 1.0, "decoded_ball_agreement": 1.0,
                 "decoded_foreground_iou": 1.0}


def test_disagreement_is_measured():
    ref = _fields()
    test = {k: v.copy() for k, v in ref.items()}
    test["player"][:] = 0.0  # no player pixels at all
    test["pif"][:, 17, 1] += 20.0  # ball regressed 20 px to the right
    f = field_agreement(ref, test, SPEC)
    assert f["max_abs_player"] > 0.5 and f["player_mask_iou"] == 0.0
    assert abs(f["ball_peak_distance_px"] - 20.0) < 1e-3
    d = decoded_agreement(ref, test, SPEC)
    assert d["decoded_foreground_iou"] == 0.0
    # No player pixels: every instance is dropped, so no count or centre agrees; both balls moved 20 px.
    assert d["decoded_same_player_count"] == 0.0 and d["decoded_center_match"] == 0.0
    assert d["decoded_ball_agreement"] == 0.0


def test_merge_keeps_the_worst():
    m = merge([{"max_abs_pif": 0.1, "player_mask_iou": 0.9, "ball_peak_distance_px": 1.0},
               {"max_abs_pif": 0.3, "player_mask_iou": 0.7, "ball_peak_distance_px": 0.5}])
    assert m == {"max_abs_pif": 0.3, "player_mask_iou": 0.7, "ball_peak_distance_px": 1.0}
