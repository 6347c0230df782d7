"""CUDA decoder timing per stage (CUDA events) at 641x641 / 10 players and 1281x1281 / 25 players.

Run on a GPU machine (the library is built by `python setup.py build_ext --inplace` when nvcc is present):

    python benchmarks/bench_decode_cuda.py
    python benchmarks/bench_decode_cuda.py --iters 500 --exact

Fields are the ideal fields of synthetic scenes (dsl_deploy.data) with noise, uploaded once to device memory
(cuda-python); each timed call is `CudaDecoder.decode_device` (decode + label download). Also times the
host-array path and the native CPU decoder on the same fields, and checks that the CUDA result agrees
with the native one. Writes benchmarks/results/decode-cuda-<gpu>.json; exits 3 with the reason when this
machine has no CUDA device or the library is not built.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ((641, 10), (1281, 25))
GPU_STAGES = ("fuse", "maxima", "assign", "poses", "total")


def scene_fields(size: int, players: int, seed: int) -> tuple[object, dict[str, np.ndarray]]:
    """(spec, ready fields) of a synthetic scene with exactly `players` players."""
    from dsl_deploy.data.encode import ideal_fields
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.spec import default_spec

    spec = default_spec(size=size)
    _image, ann = SyntheticScenes(seed=seed, width=size, height=size, min_players=players, max_players=players)[0]
    return spec, ideal_fields(ann, spec, noise=0.5, rng=np.random.default_rng(seed))


def to_device(cudart: object, fields: dict[str, np.ndarray]) -> dict[str, int]:
    """Device copies of the fields (cuda-python), as integer pointers."""
    ptrs = {}
    for name in ("player", "offset", "pif"):
        host = np.ascontiguousarray(fields[name], np.float32)
        err, ptr = cudart.cudaMalloc(host.nbytes)
        if int(err) != 0:
            raise RuntimeError(f"cudaMalloc failed: {err}")
        (err,) = cudart.cudaMemcpy(ptr, host.ctypes.data, host.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)
        if int(err) != 0:
            raise RuntimeError(f"cudaMemcpy failed: {err}")
        ptrs[name] = int(ptr)
    return ptrs


def time_case(cudart: object, size: int, players: int, exact: bool, warmup: int, iters: int) -> dict:
    """Per-stage GPU ms, host ms of both paths, the native decoder's ms, and agreement, for one case."""
    from dsl_deploy.bench.stats import ratio, summarize
    from dsl_deploy.decode import Decoder
    from dsl_deploy.decode.cuda import CudaDecoder

    spec, fields = scene_fields(size, players, seed=size)
    spec = replace(spec, decoder=replace(spec.decoder, exact=exact))
    decoder = CudaDecoder(spec)
    err, stream = cudart.cudaStreamCreate()
    ptrs = to_device(cudart, fields)
    try:
        for _ in range(warmup):
            decoder.decode_device(ptrs, int(stream))
        gpu: dict[str, list[float]] = {k: [] for k in GPU_STAGES}
        wall = []
        for _ in range(iters):
            result = decoder.decode_device(ptrs, int(stream))
            for k in GPU_STAGES:
                gpu[k].append(result.timings[k])
            wall.append(result.timings["wall"])
        host_wall = []
        for _ in range(max(1, iters // 4)):
            t0 = time.perf_counter()
            decoder(fields)
            host_wall.append((time.perf_counter() - t0) * 1e3)
    finally:
        for p in ptrs.values():
            cudart.cudaFree(p)
        cudart.cudaStreamDestroy(stream)
    native = Decoder(spec, impl="native")
    native_ms = []
    for _ in range(max(3, iters // 20)):
        t0 = time.perf_counter()
        want = native(fields)
        native_ms.append((time.perf_counter() - t0) * 1e3)
    agree = {
        "players": [int(want.num_players), int(result.num_players)],
        "centers_equal": bool(np.array_equal(want.centers, result.centers)),
        "labels_equal_fraction": float((want.labels == result.labels).mean()),
        "keypoints_max_abs_diff": float(np.abs(want.keypoints - result.keypoints).max(initial=0.0)),
        "ball_equal": (want.ball is None) == (result.ball is None)
        and (want.ball is None or (want.ball.x, want.ball.y) == (result.ball.x, result.ball.y)),
    }
    gpu_stats = {k: summarize(v) for k, v in gpu.items()}
    native_stats = summarize(native_ms)
    return {"size": size, "players": players, "exact": exact, "iters": iters,
            "gpu_ms": gpu_stats, "device_path_wall_ms": summarize(wall), "host_path_wall_ms": summarize(host_wall),
            "native_cpu_ms": native_stats,
            "speedup_vs_native_gpu_total": ratio(native_stats["median"], gpu_stats["total"]["median"]),
            "agreement_with_native": agree}


def main(argv: list[str] | None = None) -> int:
    """Time the cases; exit 3 with the reason when this machine cannot run the CUDA decoder."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                   help="results folder (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=20, help="untimed decodes per case (default: 20)")
    p.add_argument("--iters", type=int, default=200, help="timed decodes per case (default: 200)")
    p.add_argument("--exact", action="store_true", help="also time the exact (untruncated) Eq. 3 mode")
    args = p.parse_args(argv)
    if args.warmup < 0 or args.iters < 1:
        print("bench_decode_cuda: error: --warmup must be >= 0 and --iters >= 1", file=sys.stderr)
        return 2
    from dsl_deploy.decode import cuda
    from dsl_deploy.machine import machine_info, machine_slug

    reason = cuda.unavailable_reason()
    if reason:
        print(f"bench_decode_cuda: cannot run here: {reason}", file=sys.stderr)
        return 3
    from dsl_deploy.errors import BackendUnavailable
    from dsl_deploy.tensorrt.cuda_runtime import cudart as cuda_runtime
    try:
        cudart = cuda_runtime()
    except BackendUnavailable as exc:
        print(f"bench_decode_cuda: cannot run here: {exc}", file=sys.stderr)
        return 3
    modes = (False, True) if args.exact else (False,)
    runs = []
    for size, players in CASES:
        for exact in modes:
            r = time_case(cudart, size, players, exact, args.warmup, args.iters)
            g = r["gpu_ms"]
            print(f"{size}x{size} {players} players{' exact' if exact else ''}: GPU total "
                  f"{g['total']['median']:.3f} ms (fuse {g['fuse']['median']:.3f}, maxima {g['maxima']['median']:.3f}, "
                  f"assign {g['assign']['median']:.3f}, poses {g['poses']['median']:.3f}); device path "
                  f"{r['device_path_wall_ms']['median']:.3f} ms, host path {r['host_path_wall_ms']['median']:.3f} ms, "
                  f"native CPU {r['native_cpu_ms']['median']:.2f} ms")
            runs.append(r)
    info = machine_info()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"decode-cuda-{machine_slug(info)}.json"
    out.write_text(json.dumps({"benchmark": "bench_decode_cuda", "machine": info, "cases": runs}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
