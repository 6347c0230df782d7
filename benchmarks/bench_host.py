"""Host-side work per broadcast frame on one core: preprocess + decode + map + serialise, today's path against
the fast one, in one run (issue 15's goal: <= 5 ms median for a 1920x1080 frame with 10 players).

The network is a stand-in that returns, instantly, the ideal fields of the frame's synthetic scene (drawn at
the frame size, 10 players, letterboxed into a 641x641 input), so only the work around the network counts,
measured through `Pipeline` as a capture box runs it; serialise is the JSON line JsonLinesSink writes (masks
as RLE). The decoder (native, one thread) is the same for both paths. 'today': INTER_AREA resize, frame-size
label map, RLE from it in NumPy. 'fast': INTER_LINEAR resize in one pass, RLE from the network labels in the
native core, no frame-size map. The two paths take turns by blocks of one pass over the scenes (8 frames), so load
on the machine hits both alike, while each path's frames follow one another as on a capture box, which runs one
path only (`--interleave frame` alternates every frame instead: the fast path then starts each frame with the
other path's 100 MB in the cache).

    python benchmarks/bench_host.py --pin-core 1              # 1920x1080, 10 players, 60 frames per path
    python benchmarks/bench_host.py --frame-size 1280x720 --quick

Writes benchmarks/results/host-<machine>-<W>x<H>.json (min/median/max per stage, today/fast per stage). Beside the
wall-clock figures it records the CPU time of the whole frame (host_cpu) and of each stage: on a shared
machine another process holding the core stretches wall time but not CPU time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frame-size", default="1920x1080", metavar="WxH", help="frame size (default 1920x1080)")
    parser.add_argument("--size", type=int, default=641, help="network input size (default 641, as the paper)")
    parser.add_argument("--players", type=int, default=10, help="players per scene (default 10)")
    parser.add_argument("--frames", type=int, default=60, help="timed frames per path (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames per path first (default 5)")
    parser.add_argument("--interleave", choices=("block", "frame"), default="block",
                        help="take turns by blocks of one pass over the scenes (default) or every frame")
    parser.add_argument("--pin-core", type=int, default=None, help="run on this CPU core only")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 frames")
    parser.add_argument("--notes", default="", help="free text stored in the JSON (e.g. machine load)")
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default under benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.warmup = 12, 2
    if args.pin_core is not None:
        os.sched_setaffinity(0, {args.pin_core})

    import cv2
    import numpy as np

    from dsl_deploy.bench.host import (
        HOST_PATHS,
        HOST_STAGES,
        SceneFields,
        broadcast_scenes,
        cpu_stages,
        frame_order,
        parse_frame_size,
        time_host,
    )
    from dsl_deploy.bench.report import write_json
    from dsl_deploy.bench.stats import ratio, summarize
    from dsl_deploy.decode import Decoder, resolve_impl
    from dsl_deploy.machine import machine_info, machine_slug
    from dsl_deploy.preprocess import Preprocessor, native_preprocess_available
    from dsl_deploy.runtime import Pipeline
    from dsl_deploy.spec import default_spec

    cv2.setNumThreads(1)
    width, height = parse_frame_size(args.frame_size)
    spec = default_spec("resnet18", args.size)
    t0 = time.perf_counter()
    scenes = broadcast_scenes(spec, width, height, players=args.players, count=8)
    print(f"{len(scenes)} scenes at {width}x{height} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    fields = [s.fields for s in scenes]
    pipelines = {name: Pipeline(SceneFields(spec, fields), decoder=Decoder(spec, impl="native", threads=1), **opts)
                 for name, opts in HOST_PATHS.items()}
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in pipelines}
    cpu: dict[str, dict[str, list[float]]] = {name: {} for name in pipelines}  # CPU ms, stage by stage
    # The host part for a model that normalises in its graph (dsl-export --uint8-input): letterbox only.
    uint8_prep = Preprocessor(spec, resize=HOST_PATHS["fast"]["resize"], output="uint8")
    uint8_ms: list[float] = []
    # The fast path's preprocess without the native letterbox (OpenCV's resizes, NumPy's normalisation): CPU ms,
    # beside the native one in the same frames (cpu_ms_per_stage.fast.preprocess when the native module is built).
    opencv_prep = Preprocessor(spec, resize=HOST_PATHS["fast"]["resize"], native=False)
    opencv_cpu_ms: list[float] = []
    players, lines = {name: [] for name in pipelines}, {}
    load_before = os.getloadavg()
    for i, name in frame_order(list(pipelines), args.warmup + args.frames, len(scenes), args.interleave):
        k = i % len(scenes)
        pipeline = pipelines[name]
        pipeline.backend.seek(k)  # both paths decode the same scene
        ms, result, line = time_host(pipeline, scenes[k].frame, i)
        if i < args.warmup:
            continue
        for stage, v in ms.items():
            samples[name].setdefault(stage, []).append(v)
        for stage, v in cpu_stages(pipeline, scenes[k].frame, scenes[k].fields, i).items():
            cpu[name].setdefault(stage, []).append(v)
        players[name].append(result.num_players)
        if name == "fast":
            t0 = time.perf_counter()
            uint8_prep(scenes[k].frame)
            uint8_ms.append((time.perf_counter() - t0) * 1e3)
            c0 = time.thread_time()
            opencv_prep(scenes[k].frame)
            opencv_cpu_ms.append((time.thread_time() - c0) * 1e3)
        record = json.loads(line)
        record.pop("timings_ms")
        lines.setdefault(k, {})[name] = record
    same_json = sum(v["today"] == v["fast"] for v in lines.values())
    stats = {name: {stage: summarize(v) for stage, v in s.items()} for name, s in samples.items()}
    ratios = {stage: ratio(stats["today"][stage]["median"], stats["fast"][stage]["median"])
              for stage in (*HOST_STAGES, "host", "host_cpu")}
    cpu_stats = {name: {stage: summarize(v) for stage, v in c.items()} for name, c in cpu.items()}
    host = stats["fast"]["host"]["median"]
    host_cpu = stats["fast"]["host_cpu"]["median"]
    info = machine_info()
    report = {
        "benchmark": "host-side work per frame (issue 15)", "machine": info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"frame_size": [width, height], "input": [args.size, args.size], "players": args.players,
                     "frames": args.frames, "warmup": args.warmup, "pin_core": args.pin_core,
                     "interleave": args.interleave,
                     "cores_used": sorted(os.sched_getaffinity(0)), "decoder": resolve_impl("native") + ", 1 thread",
                     "opencv_threads": cv2.getNumThreads(), "paths": HOST_PATHS,
                     "network": "stand-in returning the scene's ideal fields at once (noise 0.1 cells)"},
        "players_decoded_median": {k: float(np.median(v)) for k, v in players.items()},
        "ms": stats, "today_over_fast": ratios,
        # CPU time of this thread per stage, each stage run once more on its own (not counted in "ms").
        "cpu_ms_per_stage": cpu_stats,
        "preprocess_uint8_input_ms": summarize(uint8_ms),  # letterbox only, for a --uint8-input model
        "native_preprocess": native_preprocess_available(),
        "preprocess_fast_opencv_cpu_ms": summarize(opencv_cpu_ms),  # the fast path's preprocess, not native
        "goal": {"host_median_ms_max": TARGET_MS, "fast_host_median_ms": host, "met_wall": host <= TARGET_MS,
                 "fast_host_cpu_median_ms": host_cpu, "met_cpu": host_cpu <= TARGET_MS},
        # The stand-in's fields do not depend on the input, so both paths decode the same result: their JSON
        # lines (timings left out) must be the same, which checks the fast map and serialisation end to end.
        "json_lines_identical": f"{same_json} of {len(lines)} scenes",
        "load_average": {"before": load_before, "after": os.getloadavg()}, "notes": args.notes,
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"host-{machine_slug(info)}-{width}x{height}.json"
    write_json(report, out)
    print(f"{'stage, median ms (min-max)':<28} {'today':>22} {'fast':>22} {'today/fast':>10}")
    for stage in (*HOST_STAGES, "host", "host_cpu"):
        a, b = stats["today"][stage], stats["fast"][stage]
        print(f"{stage:<28} {a['median']:8.2f} ({a['min']:.2f}-{a['max']:.2f}) {b['median']:8.2f} "
              f"({b['min']:.2f}-{b['max']:.2f}) {ratios[stage] or float('nan'):9.1f}x")
    print(f"fast host-side median {host:.2f} ms wall, {host_cpu:.2f} ms CPU: goal <= {TARGET_MS} ms "
          f"{'met' if host <= TARGET_MS else 'NOT met'} (wall), {'met' if host_cpu <= TARGET_MS else 'NOT met'} (CPU)")
    for name in pipelines:
        print(f"CPU ms per stage, {name}: " + ", ".join(f"{k} {v['median']:.2f}" for k, v in cpu_stats[name].items()))
    print(f"fast preprocess, CPU ms median: {cpu_stats['fast']['preprocess']['median']:.2f} "
          f"({'native' if native_preprocess_available() else 'OpenCV'}), "
          f"{report['preprocess_fast_opencv_cpu_ms']['median']:.2f} through OpenCV and NumPy")
    print(f"wrote {out}")
    for p in pipelines.values():
        p.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
