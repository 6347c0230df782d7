"""Should the letterbox resize go inside the exported graph too? ONNX Runtime's Resize of a 1920x1080 uint8 frame
to 641x361 (linear, without and with antialiasing) against OpenCV's INTER_LINEAR and the runtime's box-linear,
on one CPU thread, in one run. (On a GPU the answer may differ; none was lent to measure it.)

    python benchmarks/bench_graph_resize.py --pin-core 1

Writes benchmarks/results/graph-resize-<machine>.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def resize_model(width: int, height: int, out_w: int, out_h: int, antialias: int) -> bytes:
    """An ONNX graph (opset 18) that resizes a uint8 NHWC frame to out_w x out_h, linear, half-pixel centres."""
    from onnx import TensorProto, helper, numpy_helper

    sizes = numpy_helper.from_array(np.array([1, out_h, out_w, 3], np.int64), "sizes")
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear", antialias=antialias,
                            coordinate_transformation_mode="half_pixel")
    graph = helper.make_graph([node], "resize", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                                               [1, height, width, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], [sizes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=40, help="timed runs per case (default 40)")
    parser.add_argument("--pin-core", type=int, default=None, help="run on this CPU core only")
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default under benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.pin_core is not None:
        os.sched_setaffinity(0, {args.pin_core})
    import cv2
    import onnxruntime as ort

    from dsl_deploy.bench.report import write_json
    from dsl_deploy.bench.stats import summarize
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.machine import machine_info, machine_slug
    from dsl_deploy.preprocess import Preprocessor
    from dsl_deploy.spec import default_spec

    cv2.setNumThreads(1)
    frame = SyntheticScenes(0, 1920, 1080, min_players=10, max_players=10)[0][0]
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    cases = {}
    for aa in (0, 1):
        sess = ort.InferenceSession(resize_model(1920, 1080, 641, 361, aa), so, providers=["CPUExecutionProvider"])
        cases[f"onnxruntime Resize linear, antialias={aa}"] = lambda s=sess: s.run(None, {"x": frame[None]})
    cases["OpenCV INTER_LINEAR"] = lambda: cv2.resize(frame, (641, 361), interpolation=cv2.INTER_LINEAR)
    prep = Preprocessor(default_spec("resnet18", 641), resize="box-linear", output="uint8")
    cases["box-linear letterbox (Preprocessor output=uint8)"] = lambda: prep(frame)
    area = cv2.resize(frame, (641, 361), interpolation=cv2.INTER_AREA).astype(np.float64)
    results = {}
    for name, fn in cases.items():
        out = fn()
        img = out[0][0] if isinstance(out, list) else (out[0][0, 140:501] if isinstance(out, tuple) else out)
        fn()
        wall, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
        results[name] = {"wall_ms": summarize(wall), "cpu_ms": summarize(cpu),
                         "mean_abs_diff_to_inter_area": float(np.abs(img.astype(np.float64) - area).mean())}
        print(f"{name:50s} {np.median(cpu):6.2f} ms CPU  {results[name]['mean_abs_diff_to_inter_area']:.2f} grey "
              f"levels from INTER_AREA")
    info = machine_info()
    ref = results["box-linear letterbox (Preprocessor output=uint8)"]["cpu_ms"]["median"]
    report = {"benchmark": "letterbox resize in the graph or on the host", "machine": info,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "settings": {"frame": [1920, 1080], "to": [641, 361], "threads": 1, "pin_core": args.pin_core,
                           "repeats": args.repeats},
              "cases": results,
              "cpu_ratio_to_box_linear": {k: v["cpu_ms"]["median"] / ref for k, v in results.items()},
              "load_average": os.getloadavg()}
    out = args.out or ROOT / "benchmarks" / "results" / f"graph-resize-{machine_slug(info)}.json"
    write_json(report, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
