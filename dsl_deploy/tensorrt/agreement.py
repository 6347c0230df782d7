"""How closely an engine's outputs, and what the decoder reads from them, agree with ONNX Runtime."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..spec import BALL, CENTER, ModelSpec


def field_agreement(ref: dict[str, np.ndarray], test: dict[str, np.ndarray], spec: ModelSpec) -> dict[str, float]:
    """Max abs difference per output, plus decode-level agreement: player-mask IoU, ball and centre peaks."""
    out: dict[str, float] = {}
    for name in spec.outputs:
        out[f"max_abs_{name}"] = float(np.max(np.abs(ref[name].astype(np.float32) - test[name].astype(np.float32))))
    thr = spec.decoder.player_threshold
    a, b = ref["player"][:, 0] >= thr, test["player"][:, 0] >= thr
    union = np.logical_or(a, b).sum()
    out["player_mask_iou"] = float(np.logical_and(a, b).sum() / union) if union else 1.0
    conf_ref, conf_test = ref["pif"][:, :, 0], test["pif"][:, :, 0]
    # Ball: the most confident ball cell, compared by its regressed position (input pixels).
    dists = []
    for i in range(conf_ref.shape[0]):
        pr, pt = _peak_xy(ref["pif"][i, BALL]), _peak_xy(test["pif"][i, BALL])
        dists.append(float(np.hypot(pr[0] - pt[0], pr[1] - pt[1])))
    out["ball_peak_distance_px"] = max(dists) if dists else 0.0
    seeds_ref = conf_ref[:, CENTER] >= spec.decoder.seed_threshold
    seeds_test = conf_test[:, CENTER] >= spec.decoder.seed_threshold
    both = np.logical_or(seeds_ref, seeds_test).sum()
    out["center_seed_agreement"] = float(np.logical_and(seeds_ref, seeds_test).sum() / both) if both else 1.0
    return out


def decoded_agreement(ref: dict[str, np.ndarray], test: dict[str, np.ndarray], spec: ModelSpec) -> dict[str, float]:
    """Decode both sets of fields per frame and compare: players found, centres, ball, foreground."""
    from ..decode import Decoder

    decoder = Decoder(spec)
    tol = float(spec.pif_stride)  # one PIF cell
    frames = ref["player"].shape[0]
    same_count = matched = total = ball_ok = 0
    inter = union = 0
    for i in range(frames):
        a = decoder({k: v[i:i + 1] for k, v in ref.items()})
        b = decoder({k: v[i:i + 1] for k, v in test.items()})
        same_count += len(a.scores) == len(b.scores)
        for c in a.centers:
            total += 1
            if len(b.centers) and float(np.min(np.hypot(*(b.centers - c).T))) <= tol:
                matched += 1
        if a.ball is None or b.ball is None:
            ball_ok += a.ball is None and b.ball is None
        else:
            ball_ok += float(np.hypot(a.ball.x - b.ball.x, a.ball.y - b.ball.y)) <= tol
        fa, fb = a.labels > 0, b.labels > 0
        inter += int(np.logical_and(fa, fb).sum())
        union += int(np.logical_or(fa, fb).sum())
    return {"decoded_same_player_count": same_count / frames if frames else 1.0,
            "decoded_center_match": matched / total if total else 1.0,
            "decoded_ball_agreement": ball_ok / frames if frames else 1.0,
            "decoded_foreground_iou": inter / union if union else 1.0}


def _peak_xy(pif_type: np.ndarray) -> tuple[float, float]:
    """(x, y) regressed by the most confident cell of one type's [5, Hp, Wp] field."""
    j, i = np.unravel_index(int(np.argmax(pif_type[0])), pif_type[0].shape)
    return float(pif_type[1, j, i]), float(pif_type[2, j, i])


def merge(results: Iterable[dict[str, float]]) -> dict[str, float]:
    """Worst case over batches: max of differences and distances, min of agreements."""
    merged: dict[str, float] = {}
    for r in results:
        for k, v in r.items():
            worse = max if k.startswith("max_abs") or k.endswith("_px") else min  # agreements: the worst batch
            merged[k] = worse(merged[k], v) if k in merged else v
    return merged


def compare_with_onnxruntime(engine_path: str | Path, onnx_path: str | Path,
                             batches: Iterable[np.ndarray]) -> dict[str, float]:
    """Run the same batches through the engine and through ONNX Runtime (CPU); worst-case agreement."""
    import onnxruntime as ort

    from .backend import TensorRTBackend

    with TensorRTBackend(engine_path) as engine:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        names = list(engine.spec.outputs)
        results = []
        for batch in batches:
            for start in range(0, batch.shape[0], engine.max_batch):
                part = np.ascontiguousarray(batch[start:start + engine.max_batch])
                ref = dict(zip(names, sess.run(names, {engine.spec.input.name: part})))
                test = engine.infer(part)
                results.append({**field_agreement(ref, test, engine.spec),
                                **decoded_agreement(ref, test, engine.spec)})
    return merge(results)
