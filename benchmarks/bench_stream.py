"""Stream throughput: the threaded pipeline (`Pipeline.stream`) against the same pipeline called frame by
frame, in one run, with the ceiling its slowest stage sets.

The network is the seeded untrained demo model (ResNet-18 at 641x641 by default, exported once and cached
as `dsl-bench --demo` does) on ONNX Runtime; every inference really runs, but the decoder is given the
ideal fields of the frame's synthetic scene (10 players, position noise 0.5 cells) instead of the
untrained network's outputs, so decode does the work a trained network's fields cause. Frames are
1920x1080 (the scenes scaled up), so letterboxing and mapping masks back cost what they do on air. Each ONNX Runtime
thread count is measured both ways; frames per second are min/median/max over the repeats.

    python benchmarks/bench_stream.py                     # 48 frames x 3 repeats, 1 and 2 ORT threads
    python benchmarks/bench_stream.py --quick             # 12 frames x 2 repeats, a smoke run
    python benchmarks/bench_stream.py --backbone resnet50 # the paper's backbone

Writes benchmarks/results/stream-<machine>-<backbone>-<size>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from dsl_deploy.backends.base import Backend
from dsl_deploy.bench.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
PLAYERS = 10


class SceneFields(Backend):
    """Runs the real network, then returns the ideal fields of the frame's scene (frames come in order)."""

    reuses_output_buffers = False

    def __init__(self, inner: Backend, fields: list[dict[str, np.ndarray]]):
        self.inner, self.spec, self.name = inner, inner.spec, f"{inner.name}+scene-fields"
        self._fields = [{k: v[None] for k, v in f.items()} for f in fields]
        self._next = 0

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the network on `batch`; return the next scene's fields."""
        self.inner.infer(batch)
        out = self._fields[self._next % len(self._fields)]
        self._next += 1
        return out

    def close(self) -> None:
        """Close the wrapped backend."""
        self.inner.close()


def time_sequential(pipeline, frames: list[np.ndarray]) -> float:
    """Seconds to run every frame through `pipeline(frame)`, one after another."""
    t0 = time.perf_counter()
    for frame in frames:
        pipeline(frame)
    return time.perf_counter() - t0


def time_stream(pipeline, frames: list[np.ndarray]) -> tuple[float, dict]:
    """Seconds to run every frame through `pipeline.stream`, and the stream's own stats."""
    t0 = time.perf_counter()
    stream = pipeline.stream(frames)
    count = sum(1 for _ in stream)
    seconds = time.perf_counter() - t0
    if count != len(frames):
        raise RuntimeError(f"the stream returned {count} results for {len(frames)} frames")
    return seconds, stream.stats.to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet18", choices=("resnet18", "resnet34", "resnet50"),
                        help="backbone of the demo model (default resnet18)")
    parser.add_argument("--size", type=int, default=641, help="input size (default 641)")
    parser.add_argument("--onnx", type=Path, default=None,
                        help="measure this exported model instead of the demo model (--backbone/--size ignored)")
    parser.add_argument("--frame-size", default="1920x1080", metavar="WxH",
                        help="size of the frames fed in (default 1920x1080, a broadcast frame: letterboxing in "
                             "and mapping the masks back out cost what they cost on a capture box)")
    parser.add_argument("--frames", type=int, default=48, help="frames per timed run (default 48)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument("--threads", default="1,2", help="ONNX Runtime thread counts, comma-separated (default 1,2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 frames, 2 repeats")
    parser.add_argument("--notes", default="", help="free text stored in the JSON 'notes' (e.g. machine load)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output JSON (default benchmarks/results/stream-<machine>-<backbone>-<size>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.repeats = 12, 2
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    try:
        frame_w, frame_h = (int(v) for v in args.frame_size.lower().split("x"))
    except ValueError:
        parser.error(f"--frame-size: expected WxH such as 1920x1080, got {args.frame_size!r}")
    if args.frames < 2 or args.repeats < 1 or not threads or min(threads) < 1:
        parser.error("--frames must be >= 2, --repeats >= 1 and every --threads entry >= 1")

    from dsl_deploy.backends import load_backend
    from dsl_deploy.bench.demo import demo_artifacts
    from dsl_deploy.data.encode import ideal_fields
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.decode import resolve_impl
    from dsl_deploy.machine import machine_info, machine_slug
    from dsl_deploy.runtime import Pipeline

    if args.onnx is not None:
        onnx_path = args.onnx
    else:
        _, onnx_path = demo_artifacts(args.backbone, args.size, log=lambda m: print(m, file=sys.stderr))
    with load_backend(onnx_path) as probe:
        spec = probe.spec
    model_name = f"{spec.backbone}-{spec.input.width}"
    scenes = SyntheticScenes(0, spec.input.width, spec.input.height, min_players=PLAYERS, max_players=PLAYERS)
    rng = np.random.default_rng(0)
    distinct = [scenes[i] for i in range(min(args.frames, 8))]
    fields = [ideal_fields(ann, spec, rng=rng, noise=0.5) for _, ann in distinct]
    # The scene is drawn at the network's size (its fields are the decoder's input) and scaled to the frame
    # size, so each stage does a capture box's work: the fields need not match the frame's pixels for timing.
    images = [cv2.resize(image, (frame_w, frame_h), interpolation=cv2.INTER_LINEAR) for image, _ in distinct]
    frames = [images[i % len(images)] for i in range(args.frames)]

    info = machine_info()
    load_before = os.getloadavg()
    report: dict[str, object] = {
        "benchmark": "stream throughput", "machine": info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"model": str(onnx_path), "backbone": spec.backbone, "size": [spec.input.width, spec.input.height], "frames": args.frames, "repeats": args.repeats,
                     "frame_size": [frame_w, frame_h], "decoder": resolve_impl("auto"), "players": PLAYERS,
                     "fields": "the network runs; the decoder gets ideal_fields of the frame's SyntheticScenes "
                               "scene (position noise 0.5 cells), not the untrained network's outputs"},
        "cases": [],
    }
    for t in threads:
        backend = SceneFields(load_backend(onnx_path, threads=t), fields)
        with Pipeline(backend) as pipeline:
            pipeline(frames[0])  # warm up: ONNX Runtime's first run and the decoder's buffers
            time_stream(pipeline, frames[:3])
            sequential, streamed, bounds, slowest = [], [], [], []
            for r in range(args.repeats):
                seconds = time_sequential(pipeline, frames)
                sequential.append(len(frames) / seconds)
                seconds, stats = time_stream(pipeline, frames)
                streamed.append(len(frames) / seconds)
                bounds.append(stats["bound_fps"])
                slowest.append(stats["slowest_stage"])
                print(f"ORT threads {t}, repeat {r + 1}/{args.repeats}: frame by frame {sequential[-1]:.2f} fps, "
                      f"stream {streamed[-1]:.2f} fps (slowest stage {stats['slowest_stage']}: "
                      f"at most {stats['bound_fps']:.2f} fps)", file=sys.stderr)
        backend.close()
        case = {
            "ort_threads": t,
            "frame_by_frame_fps": summarize(sequential),
            "stream_fps": summarize(streamed),
            "stream_bound_fps": summarize(bounds),
            "slowest_stage": max(set(slowest), key=slowest.count),
            "stage_ms_last_stream": stats["stage_ms"],
            "speedup_median": float(np.median(streamed) / np.median(sequential)),
            "share_of_bound_median": float(np.median(streamed) / np.median(bounds)),
        }
        report["cases"].append(case)
        print(f"ORT threads {t}: stream {case['stream_fps']['median']:.2f} fps vs frame by frame "
              f"{case['frame_by_frame_fps']['median']:.2f} fps ({case['speedup_median']:.2f}x); "
              f"{100 * case['share_of_bound_median']:.0f}% of the slowest stage's "
              f"{case['stream_bound_fps']['median']:.2f} fps")
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    report["notes"] = args.notes or ("peer: the same Pipeline called frame by frame in the same run. The bound "
                                     "assumes a core per stage; with fewer cores than busy stages the stages "
                                     "share them and the stream stays below it.")
    out = args.out or ROOT / "benchmarks" / "results" / f"stream-{machine_slug(info)}-{model_name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
