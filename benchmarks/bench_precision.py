"""Decoded agreement of each precision with FP32 on a trained network (the choice of INT8 scheme and calibration).

    dsl-train --config configs/synthetic-small.toml                  # the trained network (light resnet18, 193)
    dsl-export runs/synthetic-small/best.pth -o small.onnx
    python benchmarks/bench_precision.py --model small.onnx          # -> benchmarks/results/precision-*.json

Each variant is made by the precision step (dsl_deploy.export.precision) from the same FP32 file, calibrated on
synthetic scenes (seed 0) and compared on held-out scenes (seed 1): players matched by mask IoU > 0.5, mask IoU,
keypoint distance, ball. An untrained network decodes no players; give a trained one.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from dsl_deploy.bench.precision import cpu_isa
from dsl_deploy.export.agreement import describe
from dsl_deploy.export.precision import PrecisionOptions, convert_precision
from dsl_deploy.machine import machine_info, machine_slug

VARIANTS = {
    "fp16": dict(precision="fp16"),
    "int8 cpu minmax": dict(precision="int8", int8_scheme="cpu", calib_method="minmax"),
    "int8 cpu percentile": dict(precision="int8", int8_scheme="cpu", calib_method="percentile"),
    "int8 tensorrt minmax": dict(precision="int8", int8_scheme="tensorrt", calib_method="minmax"),
}


def main() -> None:
    """Convert, compare, print one line per variant and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="FP32 ONNX file of a trained network (dsl-export)")
    ap.add_argument("--calib-count", type=int, default=32, help="synthetic calibration scenes (default: 32)")
    ap.add_argument("--check-frames", type=int, default=32, help="held-out scenes compared (default: 32)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="result folder")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in VARIANTS.items():
            t0 = time.perf_counter()
            options = PrecisionOptions(calib=f"synthetic:{args.calib_count}" if kw["precision"] == "int8" else None,
                                       check_frames=args.check_frames, **kw)
            record = convert_precision(args.model, Path(tmp) / "variant.onnx", options, log=lambda m: None)
            results[name] = {"options": kw, "agreement": record["agreement"], "tool": record["tool"],
                             "seconds": round(time.perf_counter() - t0, 1)}
            print(describe(record["agreement"], name), flush=True)
    machine = machine_info()
    doc = {"tool": "benchmarks/bench_precision.py", "machine": machine, "cpu": cpu_isa(),
           "model": str(args.model), "calib_count": args.calib_count, "check_frames": args.check_frames,
           "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"precision-{machine_slug(machine)}-{args.model.stem}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
