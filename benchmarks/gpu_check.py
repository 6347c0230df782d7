"""The GPU check: everything this project can verify on a lent GPU machine without TensorRT, in one call.

    python benchmarks/gpu_check.py OUTDIR [--minutes 8]

For a bare Linux machine with one NVIDIA GPU, Python, PyTorch with CUDA, onnxruntime, OpenCV, Cython and nvcc, but
no TensorRT and no network. Steps, each recorded (ok, seconds, output tail) in OUTDIR/gpu-check.json even when a
step fails, so one call always brings back what it learnt:

1. build the CUDA decoder for this GPU's architecture (DSL_BUILD_CUDA=1, DSL_CUDA_ARCHS from the device);
2. run the tests marked `cuda` (tests/decode, the round trip, the backends);
3. time the CUDA decoder (benchmarks/bench_decode_cuda.py -> OUTDIR/decode-cuda-*.json);
4. time the whole pipeline at 641x641 with the authors' network (seeded, untrained) on the torch backend:
   FP32 eager, FP16, and FP16 with a CUDA graph, each with the CUDA decoder fed on the device (the fields never
   leave the GPU), in one run: ms per stage (min/median/max) and peak device MB, beside the paper's Table 1.

Exits 3 (with the reason) where there is no CUDA device.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"ms": 436.0, "ms_std": 105.0, "MB": 1757.0, "gpu": "V100", "size": 641}


def run_step(name: str, cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one command; its status, duration and the tail of its output (never raises)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        ok, tail = proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired as exc:
        ok, code = False, None
        tail = f"timed out after {timeout:.0f} s\n" + ((exc.stdout or b"")[-2000:].decode(errors="replace")
                                                        if isinstance(exc.stdout, bytes) else str(exc.stdout or ""))
    print(f"[gpu-check] {name}: {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"step": name, "ok": ok, "returncode": code, "seconds": round(time.perf_counter() - t0, 1), "tail": tail}


def device_facts() -> dict[str, Any]:
    """GPU name, compute capability, memory and versions (torch's view)."""
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"gpu": props.name, "capability": f"{props.major}.{props.minor}", "memory_mb": props.total_memory // 2**20,
            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "python": platform.python_version(), "host": platform.node(), "cpu": platform.processor()}


def _stats(samples: list[float]) -> dict[str, float]:
    from dsl_deploy.bench.stats import summarize

    return {k: round(v, 4) for k, v in summarize(samples).items()}


def time_pipeline(variant: str, iters: int, warmup: int) -> dict[str, Any]:
    """One torch-backend variant (fp32 | fp16 | fp16-graph) + the CUDA decoder on device fields, stage by stage."""
    import numpy as np
    import torch

    from dsl_deploy.backends.torch_backend import TorchBackend
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.decode.cuda import CudaDecoder
    from dsl_deploy.model import build_model
    from dsl_deploy.preprocess import Preprocessor
    from dsl_deploy.spec import default_spec

    spec = default_spec("resnet50", PAPER["size"])
    torch.manual_seed(0)
    model = build_model(spec)
    torch.cuda.reset_peak_memory_stats()
    backend = TorchBackend(model, device="cuda", half=variant != "fp32", cuda_graph=variant == "fp16-graph")
    decoder = CudaDecoder(spec)
    prep = Preprocessor(spec)
    frames = [SyntheticScenes(0, 1280, 720, min_players=10, max_players=10)[i][0] for i in range(4)]
    samples: dict[str, list[float]] = {k: [] for k in ("preprocess", "network", "decode", "total")}
    players = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        batch, _ = prep(frames[i % len(frames)])
        t1 = time.perf_counter()
        fields = backend.infer_device(batch)  # DeviceFields: pointers on the current stream
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        result = decoder.decode_device(fields.pointers, fields.stream)
        t3 = time.perf_counter()
        if i >= warmup:
            for key, value in (("preprocess", t1 - t0), ("network", t2 - t1), ("decode", t3 - t2), ("total", t3 - t0)):
                samples[key].append(value * 1e3)
            players.append(result.num_players)
    peak = torch.cuda.max_memory_allocated() / 2**20
    out = {"variant": variant, "ms": {k: _stats(v) for k, v in samples.items()}, "peak_torch_device_mb": round(peak, 1),
           "players_median": float(np.median(players)), "network": f"{spec.architecture} {spec.backbone} {PAPER['size']}"}
    backend.close()
    del backend, model, decoder
    torch.cuda.empty_cache()
    return out


def timed(name: str, fn: Callable[[], Any]) -> dict[str, Any]:
    """Run fn, recording its value or its error (never raises)."""
    t0 = time.perf_counter()
    try:
        value, ok, error = fn(), True, None
    except Exception as exc:  # noqa: BLE001 - a failed step is recorded, the others still run
        value, ok, error = None, False, f"{type(exc).__name__}: {exc}"
    print(f"[gpu-check] {name}: {'ok' if ok else 'FAILED ' + str(error)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"step": name, "ok": ok, "seconds": round(time.perf_counter() - t0, 1), "value": value, "error": error}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", type=Path, help="folder for gpu-check.json and the benchmark JSON files")
    p.add_argument("--iters", type=int, default=50, help="timed frames per pipeline variant (default: 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed frames first (default: 10)")
    p.add_argument("--no-build", action="store_true", help="use the CUDA decoder library already built")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_check: torch is not installed", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 3
    args.outdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    facts = device_facts()
    arch = facts["capability"].replace(".", "")
    report: dict[str, Any] = {"what": "benchmarks/gpu_check.py", "device": facts, "steps": []}
    py = sys.executable
    if not args.no_build:
        report["steps"].append(run_step("build CUDA decoder", [py, "setup_cuda.py", "dsl_deploy/decode"], 300,
                                        env={"DSL_BUILD_CUDA": "1", "DSL_CUDA_ARCHS": arch}))
    report["steps"].append(run_step("cuda tests", [py, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                                                   "tests/decode", "tests/test_roundtrip.py", "tests/backends"], 240))
    report["steps"].append(run_step("CUDA decoder timing", [py, "benchmarks/bench_decode_cuda.py", "--out",
                                                            str(args.outdir), "--iters", "100"], 120))
    pipelines = [timed(f"pipeline {v}", lambda v=v: time_pipeline(v, args.iters, args.warmup))
                 for v in ("fp32", "fp16", "fp16-graph")]
    report["steps"].extend(pipelines)
    done = {s["value"]["variant"]: s["value"] for s in pipelines if s["ok"]}
    if "fp32" in done:
        base = done["fp32"]["ms"]["total"]["median"]
        report["ratios_vs_fp32_eager"] = {k: round(base / v["ms"]["total"]["median"], 2) for k, v in done.items()}
    report["paper_table_1"] = PAPER
    path = args.outdir / "gpu-check.json"
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"[gpu-check] wrote {path}")
    return 0 if all(s["ok"] for s in report["steps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
