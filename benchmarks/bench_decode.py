"""CPU decoder timing per stage: native (1 and 2 threads), NumPy reference and paper-style, in one run.

Cases: 641x641 with 10 players and 1281x1281 with 25 players. Fields are the ideal fields of synthetic
scenes (dsl_deploy.data.encode.ideal_fields with position noise of 0.5 cells = 4 px std), not noise, so the work is what a trained
network gives. Writes benchmarks/results/decode-<machine>.json with min/median/max per stage and the
native-vs-paper-style ratio (of medians, and of minima) measured in the same run.

    python benchmarks/bench_decode.py                       # the full run (about a minute)
    python benchmarks/bench_decode.py --quick               # fewer iterations, a smoke run
    python benchmarks/bench_decode.py --pin-core 0          # single-thread decoders on core 0 only

With --pin-core the process runs on that core for every single-threaded decoder and on all the cores it was
allowed (its affinity at start) for the 2-thread case; the JSON records which case ran where.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ((641, 10), (1281, 25))
STAGES = ("fuse", "maxima", "assign", "poses", "ball", "total")


def scene_fields(size: int, players: int, frames: int, seed: int) -> tuple[object, list[dict[str, np.ndarray]]]:
    """(spec, ready fields of `frames` synthetic scenes with exactly `players` players each)."""
    from dsl_deploy.data.encode import ideal_fields
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.spec import default_spec

    spec = default_spec(size=size)
    scenes = SyntheticScenes(seed=seed, width=size, height=size, min_players=players, max_players=players)
    rng = np.random.default_rng(seed)
    return spec, [ideal_fields(scenes[i][1], spec, noise=0.5, rng=rng) for i in range(frames)]


def time_decoder(decoder, fields: list[dict[str, np.ndarray]], iters: int, warmup: int) -> dict[str, object]:
    """Per-stage summaries (ms) over `iters` calls cycling through the frames, plus the wall time per call."""
    from dsl_deploy.bench.stats import summarize

    for i in range(warmup):
        decoder(fields[i % len(fields)])
    samples: dict[str, list[float]] = {k: [] for k in (*STAGES, "wall")}
    players = []
    for i in range(iters):
        t0 = time.perf_counter()
        result = decoder(fields[i % len(fields)])
        samples["wall"].append((time.perf_counter() - t0) * 1e3)
        for k in STAGES:
            samples[k].append(result.timings.get(k, 0.0))
        players.append(result.num_players)
    stages = {k: {m: round(v, 4) for m, v in summarize(s).items() if m in ("min", "median", "max", "n")}
              for k, s in samples.items()}
    return {"stages_ms": stages, "players_median": float(np.median(players))}


def agreement(spec, fields: dict[str, np.ndarray]) -> dict[str, object]:
    """Whether native and NumPy decode the first frame identically (centres, labels, keypoints)."""
    from dsl_deploy.decode import Decoder

    a, b = Decoder(spec, impl="numpy")(fields), Decoder(spec, impl="native")(fields)
    return {"players": a.num_players, "centres_identical": bool(np.array_equal(a.centers, b.centers)),
            "labels_identical": bool(np.array_equal(a.labels, b.labels)),
            "keypoints_max_abs_diff": float(np.abs(a.keypoints - b.keypoints).max(initial=0.0))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=300, help="timed native calls per case (default 300)")
    parser.add_argument("--numpy-iters", type=int, default=10, help="timed NumPy-reference calls (default 10)")
    parser.add_argument("--paper-iters", type=int, default=5, help="timed paper-style calls (default 5)")
    parser.add_argument("--frames", type=int, default=4, help="distinct synthetic frames cycled through (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20/2/1 iterations, 641 only")
    parser.add_argument("--pin-core", type=int, default=None,
                        help="run the single-thread decoders pinned to this CPU core (default: no pinning)")
    parser.add_argument("--notes", default="", help="free text stored in the JSON 'notes' (e.g. machine load)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output JSON (default benchmarks/results/decode-<machine>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.iters, args.numpy_iters, args.paper_iters = 20, 2, 1

    from dsl_deploy.bench.paper_style import PaperStyleDecoder
    from dsl_deploy.bench.report import write_json
    from dsl_deploy.bench.stats import ratio
    from dsl_deploy.decode import Decoder, native_available
    from dsl_deploy.machine import machine_info, machine_slug

    if not native_available():
        print("bench_decode: the native decoder is not built (python setup.py build_ext --inplace)", file=sys.stderr)
        return 3
    from dsl_deploy.decode import _native

    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if args.pin_core is not None and (allowed is None or args.pin_core not in allowed):
        print(f"bench_decode: --pin-core {args.pin_core}: not one of this process's cores {allowed}", file=sys.stderr)
        return 2

    def place(threads: int) -> list[int] | None:
        """Pin to --pin-core for one thread, else restore the starting affinity; returns the cores used."""
        if args.pin_core is None or allowed is None:
            return allowed
        cores = [args.pin_core] if threads == 1 else allowed
        os.sched_setaffinity(0, cores)
        return cores

    info = machine_info()
    load_before = os.getloadavg()
    report: dict[str, object] = {
        "benchmark": "cpu decoder", "machine": info, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"iters": args.iters, "numpy_iters": args.numpy_iters, "paper_iters": args.paper_iters,
                     "frames": args.frames, "seed": args.seed, "pin_core": args.pin_core, "openmp": _native.has_openmp(),
                     "core_version": _native.version(), "fields": "ideal_fields of SyntheticScenes, position noise 0.5 cells (4 px std)"},
        "cases": [],
    }
    for size, players in CASES[:1] if args.quick else CASES:
        spec, fields = scene_fields(size, players, args.frames, args.seed)
        print(f"{size}x{size}, {players} players", file=sys.stderr)
        runs = {}
        for name, make, iters, threads in (
            ("native-1t", lambda: Decoder(spec, impl="native", threads=1), args.iters, 1),
            ("native-2t", lambda: Decoder(spec, impl="native", threads=2), args.iters, 2),
            ("numpy", lambda: Decoder(spec, impl="numpy"), args.numpy_iters, 1),
            ("paper-style", lambda: PaperStyleDecoder(spec), args.paper_iters, 1),
        ):
            cores = place(threads)
            runs[name] = time_decoder(make(), fields, iters, warmup=min(3, iters))
            runs[name]["cores"] = cores
            med = runs[name]["stages_ms"]["total"]["median"]
            print(f"  {name:12s} total median {med:9.3f} ms", file=sys.stderr)
        totals = {k: v["stages_ms"]["total"]["median"] for k, v in runs.items()}
        fastest = {k: v["stages_ms"]["total"]["min"] for k, v in runs.items()}
        report["cases"].append({
            "size": [size, size], "players": players, "decoders": runs,
            "speedup_native_1t_vs_paper_style": ratio(totals["paper-style"], totals["native-1t"]),
            "speedup_native_1t_vs_paper_style_min": ratio(fastest["paper-style"], fastest["native-1t"]),
            "speedup_native_1t_vs_numpy": ratio(totals["numpy"], totals["native-1t"]),
            "agreement_native_vs_numpy": agreement(spec, fields[0]),
        })
    place(2)
    load_after = os.getloadavg()
    report["notes"] = (f"{args.notes} Load average (1, 5, 15 min) before {load_before}, after {load_after}: this "
                       f"machine's {info['cores']} cores are shared with other work, so medians carry that "
                       "noise; min is the closest to an idle machine. 'total' is the whole Decoder call "
                       "(checks, decode, building the FrameResult); stages are timed inside the core.").strip()
    out = args.out or ROOT / "benchmarks" / "results" / f"decode-{machine_slug(info)}.json"
    write_json(report, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
