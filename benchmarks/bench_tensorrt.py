"""TensorRT FP16 + INT8 of the paper's model (ResNet-50, 641x641): build, parity vs ONNX Runtime, engine timing.

Run on a GPU machine with TensorRT 8.6-10.x and cuda-python:

    python benchmarks/bench_tensorrt.py                      # the seeded demo model (torch exports it once)
    python benchmarks/bench_tensorrt.py --onnx model.onnx    # your exported model

Writes benchmarks/results/tensorrt-<gpu>.json (device name, versions, build time, engine size, activation
memory, parity and decoded agreement per precision, and h2d/compute/d2h/host ms as min/median/max).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def time_engine(engine_path: Path, batch: np.ndarray, warmup: int, iters: int, cuda_graph: bool) -> dict:
    """Per-call h2d/compute/d2h/host ms of the engine on one batch."""
    from dsl_deploy.tensorrt.backend import TensorRTBackend

    with TensorRTBackend(engine_path, cuda_graph=cuda_graph) as be:
        for _ in range(warmup):
            be.infer(batch)
        samples: dict[str, list[float]] = {}
        for _ in range(iters):
            be.infer(batch)
            for k, v in be.last_timings.items():
                samples.setdefault(k, []).append(v)
        return {"cuda_graph": cuda_graph, "batch": int(batch.shape[0]), "iters": iters,
                "device_memory_bytes": be.device_memory_bytes, **{k: _stats(v) for k, v in samples.items()}}


def main(argv: list[str] | None = None) -> int:
    """Build, check and time; exit 3 with the reason when this machine cannot run TensorRT."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, help="exported model (default: the seeded ResNet-50 641 demo model)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                   help="results folder (default: %(default)s)")
    p.add_argument("--work", type=Path, default=None, help="folder for engines and caches (default: next to the ONNX)")
    p.add_argument("--precisions", nargs="+", default=["fp16", "int8"], choices=["fp32", "fp16", "int8"],
                   help="engines to build (default: fp16 int8)")
    p.add_argument("--calib", type=int, default=64, help="synthetic INT8 calibration frames (default: 64)")
    p.add_argument("--batch", type=int, default=1, help="frames per timed call (default: 1)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls (default: 20)")
    p.add_argument("--iters", type=int, default=200, help="timed calls (default: 200)")
    args = p.parse_args(argv)

    from dsl_deploy.errors import DslError
    from dsl_deploy.tensorrt.builder import check_build_requirements

    try:
        check_build_requirements()
    except DslError as exc:
        print(f"bench_tensorrt: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return _run(args)
    except DslError as exc:
        print(f"bench_tensorrt: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    import tensorrt as trt

    from dsl_deploy.export.sample import sample_batch
    from dsl_deploy.tensorrt.agreement import compare_with_onnxruntime
    from dsl_deploy.tensorrt.builder import BuildOptions, build_engine
    from dsl_deploy.tensorrt.cuda_runtime import open_device
    from dsl_deploy.tensorrt.onnx_check import inspect_onnx
    from dsl_deploy.tensorrt.profiles import Calibration, load_profile
    from dsl_deploy.tensorrt.sidecar import gpu_short_name

    onnx_path = args.onnx
    if onnx_path is None:
        from dsl_deploy.bench.demo import demo_artifacts

        _, onnx_path = demo_artifacts("resnet50", 641)
    info = inspect_onnx(onnx_path)
    gpu = open_device(0)
    work = args.work or onnx_path.parent
    work.mkdir(parents=True, exist_ok=True)
    base = load_profile("gpu-fp16")
    frames = sample_batch(info.spec, batch=max(2, args.batch), seed=7)  # not calibration frames
    report = {"device": gpu.name, "compute_capability": gpu.compute_capability, "tensorrt": trt.__version__,
              "onnx": str(onnx_path), "spec": {"backbone": info.spec.backbone, "size": info.spec.input.width},
              "engines": {}}
    for precision in args.precisions:
        profile = dataclasses.replace(
            base, name=f"bench-{precision}", precision=precision,
            input=dataclasses.replace(base.input, max_batch=max(base.input.max_batch, args.batch)),
            calibration=Calibration(source="synthetic", count=args.calib, batch=8, seed=0))
        engine = work / f"{onnx_path.stem}.bench.{precision}.engine"
        built = build_engine(info, profile, BuildOptions(output=engine, timing_cache=work / "bench.timing.cache"))
        parity = compare_with_onnxruntime(engine, onnx_path, [frames])
        entry = {"build_seconds": round(built.seconds, 1), "engine_bytes": engine.stat().st_size,
                 "fp32_layers": len(built.fp32_layers), "parity_vs_onnxruntime": parity, "timing": []}
        batch = np.ascontiguousarray(frames[: args.batch])
        for graph in (False, True):
            entry["timing"].append(time_engine(engine, batch, args.warmup, args.iters, graph))
        report["engines"][precision] = entry
        t = entry["timing"][0]
        print(f"{precision}: compute {t['compute_ms']['median']:.2f} ms, host {t['host_ms']['median']:.2f} ms "
              f"(median of {args.iters}); parity max|d| player {parity['max_abs_player']:.3g}, "
              f"pif {parity['max_abs_pif']:.3g}, mask IoU {parity['player_mask_iou']:.3f}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"tensorrt-{gpu_short_name(gpu.name)}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
