"""Which resize to shrink broadcast frames with: the decoded results of each candidate against today's
(INTER_AREA), on synthetic scenes rendered at 1920x1080, with a trained network, in one run.

Per scene and candidate, through `Pipeline` (the same network, decoder and mapping; only the resize
differs): players matched to today's by mask IoU (Hungarian, IoU > 0.5), the matched masks' IoU, keypoint
distance in frame pixels (parts found by both), parts found by one only, ball distance; each candidate's
scores against the scenes' ground truth (dsl_deploy.metrics, the coco protocol); and, without a network, the
input itself at 641x641 (mean absolute difference to INTER_AREA in grey levels). Preprocess time per frame on
one core is measured in the same run.

    dsl-train --config configs/synthetic-small.toml            # the trained network (resnet18, 193x193)
    python benchmarks/bench_preprocess.py --model runs/synthetic-small/best.pth --pin-core 1
    python benchmarks/bench_preprocess.py --model runs/synthetic-small/best.pth --frame-size 580x326

Writes benchmarks/results/resize-agreement-<machine>-<W>x<H>.json. With the 193x193 network, 580x326 frames
shrink by 3, as 1920x1080 frames into the paper's 641x641 input do.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("area", "linear", "box-linear")  # area first: today's, the reference
# The noise floor: INTER_AREA again, on the frame after a JPEG round trip at quality 95 (what a capture box
# decoding MJPEG or H.264 sees anyway): disagreement no larger than this is not the resize's doing.
FLOOR = "area-jpeg95"


def match(ref, new) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Pairs (i, j) of players of `ref` and `new` matched by mask IoU > 0.5, and the IoU matrix."""
    from scipy.optimize import linear_sum_assignment

    n, m = ref.num_players, new.num_players
    joint = np.bincount(ref.labels.ravel().astype(np.int64) * (m + 1) + new.labels.ravel(),
                        minlength=(n + 1) * (m + 1)).reshape(n + 1, m + 1)
    inter = joint[1:, 1:].astype(np.float64)
    union = joint[1:, :].sum(1)[:, None] + joint[:, 1:].sum(0)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    if n == 0 or m == 0:
        return [], iou
    rows, cols = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if iou[i, j] > 0.5], iou


def compare(ref, new) -> dict:
    """Agreement of one decoded frame with today's."""
    pairs, iou = match(ref, new)
    dist, one_only = [], 0
    for i, j in pairs:
        a, b = ref.keypoints[i], new.keypoints[j]
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        one_only += int(((a[:, 2] > 0) ^ (b[:, 2] > 0)).sum())
        dist += np.hypot(*(a[both, :2] - b[both, :2]).T).tolist()
    ball = None
    if ref.ball is not None and new.ball is not None:
        ball = float(np.hypot(ref.ball.x - new.ball.x, ref.ball.y - new.ball.y))
    return {"players_today": ref.num_players, "players_new": new.num_players, "matched": len(pairs),
            "mask_iou": [float(iou[i, j]) for i, j in pairs], "keypoint_px": dist, "parts_one_only": one_only,
            "ball_px": ball, "ball_presence_same": (ref.ball is None) == (new.ball is None)}


def summarise(rows: list[dict]) -> dict:
    """Totals and distributions over the scenes."""
    iou = np.array([v for r in rows for v in r["mask_iou"]])
    px = np.array([v for r in rows for v in r["keypoint_px"]])
    balls = np.array([r["ball_px"] for r in rows if r["ball_px"] is not None])
    today, new = sum(r["players_today"] for r in rows), sum(r["players_new"] for r in rows)
    matched = sum(r["matched"] for r in rows)

    def dist(a: np.ndarray) -> dict | None:
        return None if a.size == 0 else {"mean": float(a.mean()), "median": float(np.median(a)),
                                         "p90": float(np.percentile(a, 90)), "max": float(a.max()), "n": int(a.size)}
    return {"players_today": today, "players_new": new, "players_matched": matched,
            "matched_share_of_today": matched / today if today else None,
            "mask_iou": dist(iou), "keypoint_px": dist(px), "keypoint_within_2px": float((px <= 2).mean()) if px.size else None,
            "parts_found_by_one_only": sum(r["parts_one_only"] for r in rows), "ball_px": dist(balls),
            "ball_presence_same": sum(r["ball_presence_same"] for r in rows), "scenes": len(rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="trained model: a .pth checkpoint or a .onnx file")
    parser.add_argument("--frame-size", default="1920x1080", metavar="WxH", help="frame size (default 1920x1080)")
    parser.add_argument("--scenes", type=int, default=24, help="synthetic scenes (default 24)")
    parser.add_argument("--seed", type=int, default=2000, help="scene seed, away from the training seeds (default 2000)")
    parser.add_argument("--pin-core", type=int, default=None, help="run on this CPU core only")
    parser.add_argument("--notes", default="", help="free text stored in the JSON")
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default under benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.pin_core is not None:
        os.sched_setaffinity(0, {args.pin_core})

    import cv2

    from dsl_deploy.backends import load_backend
    from dsl_deploy.bench.host import parse_frame_size
    from dsl_deploy.bench.report import write_json
    from dsl_deploy.bench.stats import summarize
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.machine import machine_info, machine_slug
    from dsl_deploy.metrics.evaluator import Evaluator
    from dsl_deploy.preprocess import Preprocessor
    from dsl_deploy.runtime import Pipeline
    from dsl_deploy.spec import default_spec

    cv2.setNumThreads(1)
    width, height = parse_frame_size(args.frame_size)
    backend = load_backend(args.model)
    spec = backend.spec
    scenes = SyntheticScenes(args.seed, width, height)
    pipelines = {c: Pipeline(backend, decoder="native", resize=c) for c in CANDIDATES}
    evaluators = {c: Evaluator(spec, protocol="coco") for c in (*CANDIDATES, FLOOR)}
    rows: dict[str, list[dict]] = {c: [] for c in (*CANDIDATES[1:], FLOOR)}
    grey = {c: [] for c in CANDIDATES[1:]}
    prep_ms: dict[str, list[float]] = {c: [] for c in CANDIDATES}
    broadcast = default_spec("resnet18", 641)  # the deployed input size: the input-level comparison
    preps = {c: Preprocessor(broadcast, resize=c) for c in CANDIDATES}
    scale = 255.0 * np.asarray(broadcast.input.std, np.float32).reshape(3, 1, 1)  # normalised units -> levels
    t_start = time.perf_counter()
    for i in range(args.scenes):
        image, ann = scenes[i]
        results = {}
        for c in CANDIDATES:
            results[c] = pipelines[c](image)
            evaluators[c].add(results[c], ann)
            t0 = time.perf_counter()
            batch, _ = preps[c](image)
            prep_ms[c].append((time.perf_counter() - t0) * 1e3)
            if c == CANDIDATES[0]:
                reference = batch[0].copy()
            else:
                grey[c].append(float(np.abs((batch[0] - reference) * scale).mean()))
        jpeg = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1], cv2.IMREAD_COLOR)
        results[FLOOR] = pipelines["area"](jpeg)
        evaluators[FLOOR].add(results[FLOOR], ann)
        for c in (*CANDIDATES[1:], FLOOR):
            rows[c].append(compare(results[CANDIDATES[0]], results[c]))
        print(f"scene {i + 1}/{args.scenes}: players {results['area'].num_players} / "
              + " / ".join(f"{c} {results[c].num_players}" for c in CANDIDATES[1:]), file=sys.stderr)
    scores = {}
    for c in (*CANDIDATES, FLOOR):
        s = evaluators[c].summary()
        scores[c] = {k: s.get(k) for k in ("pSQ", "pDQ", "AP", "AR", "bDQ")}
    info = machine_info()
    report = {
        "benchmark": "resize agreement (issue 15)", "machine": info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"model": str(args.model), "backbone": spec.backbone,
                     "input": [spec.input.width, spec.input.height], "frame_size": [width, height],
                     "scenes": args.scenes, "seed": args.seed, "reference": CANDIDATES[0],
                     "decoder": "native, " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(spec.decoder).items()),
                     "seconds": round(time.perf_counter() - t_start, 1)},
        "agreement_with_area": {c: summarise(rows[c]) for c in (*CANDIDATES[1:], FLOOR)},
        "scores_vs_ground_truth": scores,
        "input_mean_abs_diff_to_area_grey_levels_at_641": {c: summarize(v) for c, v in grey.items()},
        "preprocess_ms_641_one_core": {c: summarize(v) for c, v in prep_ms.items()},
        "load_average": os.getloadavg(), "notes": args.notes,
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"resize-agreement-{machine_slug(info)}-{width}x{height}.json"
    write_json(report, out)
    for c in (*CANDIDATES[1:], FLOOR):
        a = report["agreement_with_area"][c]
        print(f"{c} vs area: players {a['players_new']} / {a['players_today']}, matched {a['players_matched']}; "
              f"mask IoU median {a['mask_iou'] and a['mask_iou']['median']:.3f}; keypoint px median "
              f"{a['keypoint_px'] and a['keypoint_px']['median']:.2f}, within 2 px {a['keypoint_within_2px']}"
              + (f"; input diff {np.mean(grey[c]):.2f} grey levels" if c in grey else ""))
    for c in (*CANDIDATES, FLOOR):
        print(f"{c}: {scores[c]}" + (f"; preprocess {np.median(prep_ms[c]):.2f} ms" if c in prep_ms else ""))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
