"""dsl-build: a TensorRT engine (bare plan + JSON sidecar) from an exported ONNX model and a target profile."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from .common import cli_entry

# Targets whose runtime reads the ONNX file as it is (no engine): their profiles' backend and the runtime's name.
CPU_RUNTIMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}

EPILOG = """\
targets (export/*.toml, or a path to your own .toml):
{targets}
A family name picks its FP16 profile (--target jetson-orin = jetson-orin-fp16).

examples:
  dsl-build model.onnx --target gpu-fp16
  dsl-build model.onnx --target jetson-orin-int8 --calib-images frames/ -o orin.engine
  dsl-build model.onnx --target v100-fp16 --timing-cache v100.cache
  dsl-build --list-targets

Writes the bare TensorRT plan (readable by trtexec, C++ and DeepStream) and model.engine.json beside it
(spec, TensorRT version, GPU, build settings, hashes). Engines only load on the GPU model and TensorRT
version that built them unless the profile asks for version/hardware compatibility.
Precision: an FP16 or INT8 ONNX file (dsl-export --precision fp16 | int8 --int8-scheme tensorrt) builds
strongly typed on TensorRT 10 and 11 (the file's types and Q/DQ scales are the precision). An FP32 file
builds FP16/INT8 with the builder flags and the INT8 calibrator on TensorRT 8.5 to 10.x (TensorRT 11
removed them; dsl-build then says which dsl-export makes the file). Each target states the TensorRT
versions that build for it (its 'tensorrt' field; V100: 8.6 to 10.4, the last with Volta).
"""


def build_parser() -> argparse.ArgumentParser:
    """The dsl-build argument parser."""
    from ..tensorrt.profiles import available_targets, load_profile

    lines = []
    for t in available_targets():
        try:
            lines.append(f"  {t:20s} {load_profile(t).description}")
        except Exception as exc:  # a broken shipped profile must not break --help
            lines.append(f"  {t:20s} (unreadable: {exc})")
    p = argparse.ArgumentParser(prog="dsl-build", description=__doc__, epilog=EPILOG.format(targets="\n".join(lines)),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="ONNX model exported by dsl-export (carries the model spec)")
    p.add_argument("--target", "-t", help="target profile name or .toml path (required; see the list below)")
    p.add_argument("-o", "--output", type=Path,
                   help="engine path (default: next to the model, named by precision, size, GPU and TensorRT, "
                        "e.g. model.fp16.641x641.h100.trt10.3.engine)")
    p.add_argument("--calib-images", type=Path, metavar="DIR",
                   help="INT8: calibrate on the images in DIR (default: the profile's calibration source)")
    p.add_argument("--calib-synthetic", type=int, metavar="N",
                   help="INT8: calibrate on N synthetic scenes (default: the profile's calibration source)")
    p.add_argument("--timing-cache", type=Path, metavar="FILE",
                   help="timing cache to reuse and update (default: the profile's; 'auto' = "
                        "$DSL_CACHE_DIR/timing, else ~/.cache/dsl_deploy/timing)")
    p.add_argument("--fp16-overrides", nargs="+", default=[], metavar="PATTERN",
                   help="layer-name patterns (fnmatch) kept in FP16 instead of INT8 (default: none)")
    p.add_argument("--fp32-layers", nargs="+", default=[], metavar="PATTERN",
                   help="layer-name patterns kept in FP32 (default: none; the output tail is always FP32 when the "
                        "profile's layers.keep_outputs_fp32 is true)")
    p.add_argument("--device", type=int, default=0, help="CUDA device to build on (default: 0)")
    p.add_argument("--no-check", action="store_true",
                   help="INT8: skip the agreement check against ONNX Runtime after the build (default: check)")
    p.add_argument("--list-targets", action="store_true", help="list the shipped target profiles and exit")
    p.add_argument("--verbose", action="store_true", help="TensorRT's verbose log (default: warnings only)")
    return p


@cli_entry("dsl-build")
def main(argv: list[str] | None = None) -> int:
    """Validate the profile and the model, build, write the sidecar, print the next commands."""
    args = build_parser().parse_args(argv)
    from ..tensorrt.profiles import available_targets, load_profile

    if args.list_targets:
        for t in available_targets():
            prof = load_profile(t)
            print(f"{t:20s} {prof.backend:12s} {prof.precision:5s} {prof.description}")
        return 0
    if not args.model or not args.target:
        raise InputError("usage: dsl-build MODEL.onnx --target NAME (see dsl-build --help; targets: "
                         f"{', '.join(available_targets())})")
    if args.calib_synthetic is not None and args.calib_synthetic < 1:
        raise InputError(f"--calib-synthetic: expected a positive frame count, got {args.calib_synthetic}")
    if args.calib_images is not None and args.calib_synthetic is not None:
        raise InputError("--calib-images and --calib-synthetic: give one calibration source, not both")
    if args.calib_images is not None and not args.calib_images.is_dir():
        raise InputError(f"--calib-images: {args.calib_images} is not a folder")
    if args.device < 0:
        raise InputError(f"--device: expected a CUDA device index (0, 1, ...), got {args.device}")
    if args.output is not None and args.output.is_dir():
        raise InputError(f"--output: {args.output} is a folder; give the engine file name (e.g. model.engine)")
    if args.output is not None and Path(args.model).is_file() and args.output.resolve() == Path(args.model).resolve():
        raise InputError(f"--output: {args.output} is the ONNX model; writing the engine there would destroy it")

    profile = load_profile(args.target)
    from ..tensorrt.onnx_check import inspect_onnx

    info = inspect_onnx(args.model)
    if profile.backend in CPU_RUNTIMES:
        runtime = CPU_RUNTIMES[profile.backend]
        if info.spec.precision != profile.precision:
            scheme = " --int8-scheme cpu --calib FRAMES/" if profile.precision == "int8" else ""
            raise InputError(f"{info.path}: is {info.spec.precision} but target {profile.name} runs "
                             f"{profile.precision} files on {runtime}; make one with: dsl-export {info.path} "
                             f"--precision {profile.precision}{scheme}")
        print(f"target {profile.name} runs the ONNX model directly on {runtime}: nothing to build.")
        if args.output is not None:
            print(f"dsl-build: note: nothing is written, so -o {args.output} is ignored", file=sys.stderr)
        _next_commands(str(info.path), "--onnx", "" if profile.backend == "onnxruntime" else profile.backend)
        return 0
    if profile.precision != "int8" and (args.calib_images or args.calib_synthetic or args.fp16_overrides):
        print(f"dsl-build: note: target {profile.name} is {profile.precision}; the INT8 options are ignored",
              file=sys.stderr)
    elif info.spec.precision == "int8" and (args.calib_images or args.calib_synthetic):
        print(f"dsl-build: note: {info.path} carries its INT8 scales (Q/DQ); the calibration options are ignored",
              file=sys.stderr)

    from ..tensorrt.builder import BuildOptions, agreement_batch, build_engine, check_build_requirements

    if profile.precision == "int8" and info.spec.precision == "fp32" and args.calib_images is not None:
        from ..tensorrt.calibration import folder_frames

        folder_frames(args.calib_images, 1)  # an empty folder fails now, not after the TensorRT set-up
    check_build_requirements(args.device)
    options = BuildOptions(output=args.output, timing_cache=args.timing_cache, calib_images=args.calib_images,
                           calib_synthetic=args.calib_synthetic, fp16_layers=tuple(args.fp16_overrides),
                           fp32_layers=tuple(args.fp32_layers), device=args.device, verbose=args.verbose)
    report = build_engine(info, profile, options, log=lambda m: print(m, flush=True))
    doc = report.sidecar
    print(f"wrote {report.engine_path} ({report.engine_path.stat().st_size / 2**20:.1f} MiB, built in "
          f"{report.seconds:.0f} s, {doc['device_memory_bytes'] / 2**20:.0f} MiB activations) and "
          f"{report.sidecar_path}")
    if profile.precision == "int8" and not args.no_check:
        from ..tensorrt.agreement import compare_with_onnxruntime

        agree = compare_with_onnxruntime(report.engine_path, info.path, [agreement_batch(info, profile, options)])
        print("INT8 vs ONNX Runtime (FP32) on 8 calibration-like frames: "
              + ", ".join(f"{k} {v:.4g}" for k, v in agree.items()))
        from ..tensorrt.sidecar import write_sidecar

        doc["build"]["int8_agreement"] = {"reference": "onnxruntime-fp32", **agree}
        write_sidecar(report.engine_path, doc)
    _next_commands(str(report.engine_path), "--engine")
    return 0


def _next_commands(model: str, bench_flag: str, backend: str = "") -> None:
    runtime = f" --backend {backend}" if backend else ""
    print("next:")
    print(f"  dsl-bench {bench_flag} {model}{runtime}")
    print(f"  dsl-infer VIDEO_OR_FOLDER --model {model}{runtime}")
