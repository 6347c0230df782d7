"""Stream throughput: the threaded pipeline (`Pipeline.stream`) against the same pipeline called frame by
frame, in one run, with the ceiling its slowest stage sets; for today's host path and the fast one.

The network is the seeded untrained demo model (ResNet-18 at 641x641 by default, exported once and cached
as `dsl-bench --demo` does) on ONNX Runtime; every inference really runs, but the decoder is given the
ideal fields of the frame's synthetic scene (10 players, position noise 0.5 cells) instead of the
untrained network's outputs, so decode does the work a trained network's fields cause. Frames are
1920x1080 scenes (drawn at that size, their ground truth letterboxed to the input), so letterboxing, mapping
masks back and writing each frame's JSON line cost what they do on air. Host paths (dsl_deploy.bench.host):
'today' (INTER_AREA resize, frame-size label map, RLE in NumPy, json) and 'fast' (INTER_LINEAR in one pass,
native RLE from the network labels, orjson when installed). Each ONNX Runtime thread count and host path is
measured both ways, the paths alternating within each repeat; frames per second are min/median/max.

    python benchmarks/bench_stream.py                     # 48 frames x 3 repeats, 1 and 2 ORT threads
    python benchmarks/bench_stream.py --quick             # 12 frames x 2 repeats, a smoke run
    python benchmarks/bench_stream.py --backbone resnet50 # the paper's backbone

Writes benchmarks/results/stream-<machine>-<backbone>-<size>.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from dsl_deploy.backends.base import Backend
from dsl_deploy.bench import host
from dsl_deploy.bench.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
PLAYERS = 10


class SceneFields(host.SceneFields):
    """Runs the real network, then returns the ideal fields of the frame's scene (frames come in order)."""

    def __init__(self, inner: Backend, fields: list[dict[str, np.ndarray]]):
        super().__init__(inner.spec, fields, inner)


def time_sequential(pipeline, frames: list[np.ndarray]) -> float:
    """Seconds to run every frame through `pipeline(frame)` and write its JSON line, one after another."""
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        host.serialise(pipeline(frame), i)
    return time.perf_counter() - t0


def time_stream(pipeline, frames: list[np.ndarray]) -> tuple[float, dict]:
    """Seconds to run every frame through `pipeline.stream` and write its JSON line, and the stream's stats."""
    t0 = time.perf_counter()
    stream = pipeline.stream(frames)
    count = 0
    for result in stream:
        host.serialise(result, count)
        count += 1
    seconds = time.perf_counter() - t0
    if count != len(frames):
        raise RuntimeError(f"the stream returned {count} results for {len(frames)} frames")
    return seconds, stream.stats.to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet18", choices=("resnet18", "resnet34", "resnet50"),
                        help="backbone of the demo model (default resnet18)")
    parser.add_argument("--size", type=int, default=641, help="input size (default 641)")
    parser.add_argument("--architecture", default="deepsportlab", choices=("deepsportlab", "light"),
                        help="network of the demo model (default deepsportlab, the authors'; light: far less "
                             "inference, so the host-side work weighs more)")
    parser.add_argument("--onnx", type=Path, default=None,
                        help="measure this exported model instead of the demo model (--backbone/--size ignored)")
    parser.add_argument("--frame-size", default="1920x1080", metavar="WxH",
                        help="size of the frames fed in (default 1920x1080, a broadcast frame: letterboxing in "
                             "and mapping the masks back out cost what they cost on a capture box)")
    parser.add_argument("--frames", type=int, default=48, help="frames per timed run (default 48)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument("--threads", default="1,2", help="ONNX Runtime thread counts, comma-separated (default 1,2)")
    parser.add_argument("--paths", default="today,fast",
                        help="host paths to measure, comma-separated (default today,fast; see dsl_deploy.bench.host)")
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
    from dsl_deploy.bench.report import write_json
    from dsl_deploy.decode import resolve_impl
    from dsl_deploy.jsonline import ENGINE
    from dsl_deploy.machine import machine_info, machine_slug
    from dsl_deploy.runtime import Pipeline

    paths = [p for p in args.paths.split(",") if p.strip()]
    if not paths or any(p not in host.HOST_PATHS for p in paths):
        parser.error(f"--paths: expected names among {', '.join(host.HOST_PATHS)}, got {args.paths!r}")
    if args.onnx is not None:
        onnx_path = args.onnx
    else:
        _, onnx_path = demo_artifacts(args.backbone, args.size, log=lambda m: print(m, file=sys.stderr),
                                      architecture=args.architecture)
    with load_backend(onnx_path) as probe:
        spec = probe.spec
    model_name = f"{spec.architecture}-{spec.backbone}-{spec.input.width}"
    scenes = host.broadcast_scenes(spec, frame_w, frame_h, players=PLAYERS, count=min(args.frames, 8), noise=0.5)
    fields = [sc.fields for sc in scenes]
    frames = [scenes[i % len(scenes)].frame for i in range(args.frames)]

    info = machine_info()
    load_before = os.getloadavg()
    report: dict[str, object] = {
        "benchmark": "stream throughput", "machine": info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"model": str(onnx_path), "architecture": spec.architecture, "backbone": spec.backbone,
                     "size": [spec.input.width, spec.input.height],
                     "frames": args.frames, "repeats": args.repeats, "frame_size": [frame_w, frame_h],
                     "decoder": resolve_impl("auto"), "players": PLAYERS, "host_paths": {p: host.HOST_PATHS[p] for p in paths},
                     "json_engine_fast_path": ENGINE,
                     "fields": "the network runs; the decoder gets ideal_fields of the frame's SyntheticScenes "
                               "scene (drawn at the frame size, position noise 0.5 cells), not the untrained "
                               "network's outputs; every result is serialised to its JSON line"},
        "cases": [],
    }
    for t in threads:
        runs = {}
        for name in paths:
            opts = dict(host.HOST_PATHS[name])
            runs[name] = {"pipeline": Pipeline(SceneFields(load_backend(onnx_path, threads=t), fields), **opts),
                          "sequential": [], "streamed": [], "bounds": [], "slowest": [], "stats": None}
            runs[name]["pipeline"](frames[0])  # warm up: ONNX Runtime's first run and the decoder's buffers
            time_stream(runs[name]["pipeline"], frames[:3])
        for r in range(args.repeats):
            for name, run in runs.items():  # alternate the paths, so load on the machine hits both alike
                pipeline = run["pipeline"]
                pipeline.backend.seek(0)
                seconds = time_sequential(pipeline, frames)
                run["sequential"].append(len(frames) / seconds)
                pipeline.backend.seek(0)
                seconds, stats = time_stream(pipeline, frames)
                run["streamed"].append(len(frames) / seconds)
                run["bounds"].append(stats["bound_fps"])
                run["slowest"].append(stats["slowest_stage"])
                run["stats"] = stats
                print(f"ORT threads {t}, {name} path, repeat {r + 1}/{args.repeats}: frame by frame "
                      f"{run['sequential'][-1]:.2f} fps, stream {run['streamed'][-1]:.2f} fps (slowest stage "
                      f"{stats['slowest_stage']}: at most {stats['bound_fps']:.2f} fps)", file=sys.stderr)
        for name, run in runs.items():
            run["pipeline"].close()
            case = {
                "ort_threads": t,
                "host_path": name,
                "frame_by_frame_fps": summarize(run["sequential"]),
                "stream_fps": summarize(run["streamed"]),
                "stream_bound_fps": summarize(run["bounds"]),
                "slowest_stage": max(set(run["slowest"]), key=run["slowest"].count),
                "stage_ms_last_stream": run["stats"]["stage_ms"],
                "speedup_median": float(np.median(run["streamed"]) / np.median(run["sequential"])),
                "share_of_bound_median": float(np.median(run["streamed"]) / np.median(run["bounds"])),
            }
            report["cases"].append(case)
            print(f"ORT threads {t}, {name} path: stream {case['stream_fps']['median']:.2f} fps vs frame by frame "
                  f"{case['frame_by_frame_fps']['median']:.2f} fps ({case['speedup_median']:.2f}x); "
                  f"{100 * case['share_of_bound_median']:.0f}% of the slowest stage's "
                  f"{case['stream_bound_fps']['median']:.2f} fps")
        if "today" in runs and "fast" in runs:
            ratio = {k: float(np.median(runs["fast"][k]) / np.median(runs["today"][k]))
                     for k in ("sequential", "streamed")}
            report.setdefault("fast_over_today_fps", {})[str(t)] = {"frame_by_frame": ratio["sequential"],
                                                                   "stream": ratio["streamed"]}
            print(f"ORT threads {t}: fast path / today's: frame by frame {ratio['sequential']:.2f}x, "
                  f"stream {ratio['streamed']:.2f}x")
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    report["notes"] = args.notes or ("peers in the same run: the same Pipeline called frame by frame, and today's "
                                     "host path beside the fast one. The bound assumes a core per stage; with "
                                     "fewer cores than busy stages the stages share them and the stream stays "
                                     "below it.")
    out = args.out or ROOT / "benchmarks" / "results" / f"stream-{machine_slug(info)}-{model_name}.json"
    write_json(report, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
