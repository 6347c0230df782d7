"""dsl-export: checkpoint (.pth, or the authors' .pkl) -> ONNX (ready fields, spec in the metadata), checked."""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from ..errors import ArtifactError, InputError
from .common import cli_entry

EPILOG = """\
examples:
  dsl-export model.pth                        # -> model.onnx beside it, simplified, parity-checked
  dsl-export model.pth -o model.onnx --opset 17 --atol 1e-3
  dsl-export model.pth --size 961 -o model-961.onnx   # another input size ((size-1) % 16 == 0 fits)
  dsl-export --info model.pth                 # parameters and GFLOPs at the spec's input size
  dsl-export resnet50-...-cifcent-pan-ball-edge641.pkl   # a checkpoint of the authors' DeepSportLab code
  dsl-export model.pth --precision int8 --calib frames/   # -> model.int8.onnx: Q/DQ, calibrated on your frames
  dsl-export model.onnx --precision int8 --calib match.mp4 --int8-scheme tensorrt   # for dsl-build (TensorRT)
  dsl-export model.onnx --precision fp16      # -> model.fp16.onnx (no torch needed from an .onnx file)

The authors' checkpoints (their whole pickled model, {'model_state_dict': ...} or a bare state dict) are
read without their code and without running anything from the file: only tensors and module state are
rebuilt; a file naming anything else is refused. Their network is the default architecture here.

Precision (fp32 | fp16 | int8) lives in the ONNX file: FP16 as a half-precision graph, INT8 as QuantizeLinear/
DequantizeLinear pairs with per-channel weight scales; the inputs, outputs and the heads' output tail stay FP32.
The export prints, and records in the file, how the decoded results agree with FP32 on held-out frames.

The ONNX file takes `image` [B,3,H,W] float32 (RGB, ImageNet-normalised: see dsl_deploy.preprocess) and
returns the ready fields `player`, `offset`, `pif` (docs/architecture.md); the batch axis is dynamic.
"""


def build_parser() -> argparse.ArgumentParser:
    """The dsl-export argument parser."""
    p = argparse.ArgumentParser(prog="dsl-export", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint written by dsl-train (.pth), or the authors' (.pkl, state dict); "
                                      "with --precision fp16/int8 also an FP32 .onnx file from dsl-export")
    p.add_argument("-o", "--output", metavar="ONNX", default=None,
                   help="ONNX file to write (default: the checkpoint's name with .onnx, or .fp16.onnx / .int8.onnx)")
    p.add_argument("--info", action="store_true",
                   help="print parameters and GFLOPs of the checkpoint's network and stop (no export)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: %(default)s)")
    p.add_argument("--size", type=int, default=None,
                   help="square input size to export at (default: the checkpoint spec's size; for the authors' "
                        "checkpoints their training edge when recorded, else 641 as the paper)")
    p.add_argument("--no-simplify", action="store_true",
                   help="keep the graph as exported (default: simplify with onnxslim when installed, and fall "
                        "back to the unsimplified graph if that fails or changes the outputs)")
    p.add_argument("--atol", type=float, default=1e-3,
                   help="max abs difference allowed between ONNX Runtime and torch per output (default: %(default)g)")
    p.add_argument("--no-parity", action="store_true",
                   help="skip the ONNX Runtime vs torch parity check (default: run it on a synthetic frame)")
    p.add_argument("--static-batch", action="store_true",
                   help="fix the batch axis to 1 (default: dynamic batch)")
    p.add_argument("--uint8-input", action="store_true",
                   help="put the input normalisation in the graph: the model takes letterboxed uint8 BGR frames "
                        "[B, H, W, 3] (export/uint8_input.py; default: float32 NCHW, normalised on the host)")
    p.add_argument("--exporter", default="auto", choices=("auto", "torchscript", "dynamo"),
                   help="torch ONNX exporter (default: auto = the TorchScript exporter where torch still has it, "
                        "else dynamo; dynamo needs opset >= 18)")
    add_precision_options(p)
    return p


def add_precision_options(p: argparse.ArgumentParser) -> None:
    """The precision step's options (dsl_deploy.export.precision)."""
    from ..spec import PRECISIONS

    g = p.add_argument_group("precision (the network's arithmetic, written into the ONNX file)")
    g.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="fp32; fp16 (inputs, outputs and the heads' output tail FP32); int8 (Q/DQ, per-channel "
                        "weights; needs --calib) (default: %(default)s)")
    g.add_argument("--calib", metavar="SRC",
                   help="INT8 calibration frames: a folder of images, a video file, or synthetic:N (use frames of "
                        "your cameras; default: none)")
    g.add_argument("--calib-count", type=int, default=32, metavar="N",
                   help="frames the activation ranges are measured on (default: %(default)s)")
    g.add_argument("--calib-method", default="minmax", choices=("minmax", "percentile"),
                   help="activation range: the observed min/max, or the 99.999th percentile (default: %(default)s)")
    g.add_argument("--calib-record", metavar="JSON",
                   help="calibration record: reused when it was made for this FP32 graph and method, written "
                        "otherwise (default: OUTPUT with .calib.json)")
    g.add_argument("--int8-scheme", default="cpu", choices=("cpu", "tensorrt"),
                   help="cpu: uint8 activations with zero points (ONNX Runtime and OpenVINO fuse each ReLU; "
                        "TensorRT cannot build it); tensorrt: int8 activations with zero point 0 and FP32 biases "
                        "(TensorRT 10/11; runs on ONNX Runtime too, slower) (default: %(default)s)")
    g.add_argument("--keep-fp32", nargs="+", default=[], metavar="PATTERN",
                   help="node-name patterns (fnmatch, e.g. '/model/upsample/*') kept FP32 as well (default: none)")
    g.add_argument("--check-frames", type=int, default=8, metavar="N",
                   help="held-out frames of the agreement check with FP32 (0: skip) (default: %(default)s)")


class _Steps:
    """Progress lines '[  t s] message' with the time since the start."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", flush=True)


def _warn(msg: str) -> None:
    print(f"dsl-export: warning: {msg}", file=sys.stderr, flush=True)


def _print_info(info: dict, train: dict) -> None:
    print(f"architecture  {info['architecture']}")
    print(f"backbone      {info['backbone']}")
    print(f"input         {info['input']}")
    print(f"parameters    {info['params']:,} ({info['params_m']:.2f} M)")
    print(f"GFLOPs        {info['gflops']:.2f} ({info['gmacs']:.2f} GMACs)")
    print(f"convention    {info['flops_convention']}")
    if train:
        shown = {k: v for k, v in train.items() if isinstance(v, (int, float, str, bool)) or v is None}
        print("train         " + ", ".join(f"{k}={v}" for k, v in shown.items()))


# Files that are not checkpoints, by suffix: what they are (torch would only say "not a zip archive").
NOT_CHECKPOINTS = {".onnx": "an ONNX model", ".engine": "a TensorRT engine", ".plan": "a TensorRT engine",
                   ".json": "a JSON file"}
# Failures that mean the disk is full, whatever layer (Python, torch's writer, onnx) reported them.
DISK_FULL = ("No space left", "Disk quota exceeded", "file write failed")


def _quote(path: Path) -> str:
    import shlex

    from ..errors import printable
    return shlex.quote(printable(path))


def _check_free_space(source: Path, output: Path, *, failed: BaseException | None = None) -> None:
    """ArtifactError when the output's disk has no room for the export (before it, or as the reason it failed)."""
    import errno
    import shutil

    folder = output.parent if str(output.parent) else Path(".")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    # The graphs an export writes (raw, simplified, final) together are about the size of a checkpoint.
    need = source.stat().st_size + (1 << 20)
    full = isinstance(failed, OSError) and failed.errno in (errno.ENOSPC, errno.EDQUOT)
    full = full or (failed is not None and any(text in str(failed) for text in DISK_FULL))
    if full or free < need:
        raise ArtifactError(f"{output}: the disk is full: {free / 2**20:.0f} MB free in {folder}, and the export "
                            f"needs about {need / 2**20:.0f} MB for its temporary and final graphs; free some space "
                            "or write elsewhere with -o (the opset is not the problem)") from None


def _check_args(args: argparse.Namespace) -> None:
    if args.size is not None and args.size < 33:
        raise InputError(f"--size: expected at least 33, got {args.size}")
    if not args.atol > 0:
        raise InputError(f"--atol: expected a positive tolerance, got {args.atol}")
    if args.output is not None and Path(args.output).suffix.lower() != ".onnx":
        raise InputError(f"-o/--output: {args.output} should end in .onnx")
    if args.precision == "fp32" and (args.calib or args.calib_record or args.keep_fp32):
        raise InputError("--calib/--calib-record/--keep-fp32: apply to --precision fp16 or int8 only")
    if args.precision != "fp32" and args.info:
        raise InputError("--info: prints the network and stops; it takes no --precision")


def _precision_options(args: argparse.Namespace, output: Path):
    """PrecisionOptions from the command line, checked; the record defaults to OUTPUT.calib.json."""
    from ..export.precision import PrecisionOptions, check_options

    record = Path(args.calib_record) if args.calib_record else output.with_suffix(".calib.json")
    options = PrecisionOptions(precision=args.precision, calib=args.calib, calib_count=args.calib_count,
                               calib_method=args.calib_method, calib_record=record if args.precision == "int8"
                               else None, int8_scheme=args.int8_scheme, keep_fp32=tuple(args.keep_fp32),
                               check_frames=args.check_frames)
    check_options(options)
    return options


def _convert(source: Path, output: Path, options, step: "_Steps") -> None:
    """The precision step on an FP32 ONNX file, then what to run next."""
    from ..export.precision import convert_precision

    convert_precision(source, output, options, log=step)
    size_mb = output.stat().st_size / 2 ** 20
    step(f"wrote {output} ({size_mb:.1f} MB; {options.precision}; precision and agreement in its metadata)")


@cli_entry("dsl-export")
def main(argv: list[str] | None = None) -> int:
    """Entry point of dsl-export."""
    args = build_parser().parse_args(argv)
    _check_args(args)
    step = _Steps()
    source = Path(args.checkpoint)
    if not source.is_file():  # before importing torch: the commonest mistake gets its answer at once
        raise ArtifactError(f"{source}: no such checkpoint file")
    if source.suffix.lower() == ".onnx" and args.precision != "fp32":  # the precision step alone: no torch
        from ..export.precision import default_output
        from ..runtime.outputs import OutputPlan

        output = Path(args.output) if args.output else default_output(source, args.precision)
        options = _precision_options(args, output)
        OutputPlan([("model", source)]).file("-o/--output", output).file("--calib-record",
                                                                          options.calib_record).check()
        _check_free_space(source, output)
        _convert(source, output, options, step)
        if args.uint8_input:
            from ..export.uint8_input import write_uint8_model
            write_uint8_model(output, output)
            step("input: uint8 BGR frames [B, H, W, 3], normalised in the graph (after the agreement check)")
        _print_next(output, args.precision)
        return 0
    if source.suffix.lower() in NOT_CHECKPOINTS:
        raise ArtifactError(f"{source}: is {NOT_CHECKPOINTS[source.suffix.lower()]}, not a checkpoint; dsl-export "
                            "takes a checkpoint (.pth from dsl-train, or the authors' .pkl / state dict). An ONNX "
                            f"file is already exported: dsl-build {_quote(source)} --target <profile>, or dsl-infer "
                            f"SRC --model {_quote(source)}")
    if args.output:
        output = Path(args.output)
    elif args.precision != "fp32":
        from ..export.precision import default_output
        output = default_output(source, args.precision)
    else:
        output = source.with_suffix(".onnx")
    options = _precision_options(args, output) if args.precision != "fp32" else None
    if not args.info:
        from ..runtime.outputs import OutputPlan

        plan = OutputPlan([("checkpoint", source)]).file("-o/--output", output)
        plan.file("--calib-record", options.calib_record if options else None).check()
        _check_free_space(source, output)
    from ..export import export_onnx, model_info
    from ..model.checkpoint import load_any_checkpoint
    from ..spec import describe_decoder

    ckpt = load_any_checkpoint(source, size=args.size)
    spec = ckpt.spec if args.size is None else ckpt.spec.with_input_size(args.size)
    origin = ckpt.train.get("source") if ckpt.version == 0 else f"checkpoint format {ckpt.version}"
    step(f"loaded {source} ({spec.architecture} {spec.backbone}, {origin})")
    if not spec.fits_strides():
        _warn(f"input size {spec.input.width}x{spec.input.height} does not fit the network strides "
              f"((size-1) % {spec.backbone_stride} != 0, e.g. {16 * ((spec.input.width - 1) // 16) + 1}); "
              "the output grids are interpolated, which blurs positions slightly")
    # The network repeats that warning through Python's warnings module; the line above says it once.
    warnings.filterwarnings("ignore", message="input size .* does not fit")
    if args.info:
        _print_info(model_info(ckpt.model, spec), ckpt.train)
        print("decoder       " + describe_decoder(spec.decoder))
        return 0
    n_params = sum(p.numel() for p in ckpt.model.parameters())
    step(f"{n_params / 1e6:.2f} M parameters at {spec.input.width}x{spec.input.height} "
         "(dsl-export --info for GFLOPs)")
    if args.no_parity:
        _warn("parity check skipped (--no-parity): the file is not verified against torch")
    fp32_out = output if options is None else _scratch(output)
    try:
        try:
            export_onnx(ckpt.model, spec, fp32_out, opset=args.opset, simplify=not args.no_simplify,
                        dynamic_batch=not args.static_batch, exporter=args.exporter,
                        parity_atol=None if args.no_parity else args.atol, log=step)
        except (ArtifactError, OSError) as exc:
            _check_free_space(source, output, failed=exc)  # a full disk is said as such, not as an opset problem
            raise
        if options is not None:
            _convert(fp32_out, output, options, step)
    finally:
        if fp32_out != output:
            fp32_out.unlink(missing_ok=True)
    if args.uint8_input:
        from ..export.uint8_input import write_uint8_model
        write_uint8_model(output, output)
        step("input: uint8 BGR frames [B, H, W, 3], normalised in the graph (after the parity check)")
    if options is None:
        size_mb = output.stat().st_size / 2 ** 20
        step(f"wrote {output} ({size_mb:.1f} MB; onnx.checker ok; spec in metadata)")
    _print_next(output, args.precision)
    return 0


def _scratch(output: Path) -> Path:
    """A hidden FP32 file beside the output, for the precision step to start from (removed after)."""
    import os
    import tempfile

    fd, name = tempfile.mkstemp(dir=output.parent if str(output.parent) else ".", prefix=".dsl-export-fp32-",
                                suffix=".onnx")
    os.close(fd)
    return Path(name)


def _print_next(output: Path, precision: str) -> None:
    print("\nnext:")
    if precision == "fp32":
        print(f"  dsl-build {output} --target <profile>      # TensorRT engine (on the GPU that will run it)")
        print(f"  dsl-export {output} --precision int8 --calib FRAMES/   # INT8 (Q/DQ) for a CPU or TensorRT")
    else:
        print(f"  dsl-build {output} --target <profile>      # TensorRT 10+: a strongly typed engine from this file")
    print(f"  dsl-bench --onnx {output}                  # ms and MB per stage on ONNX Runtime")
    print(f"  dsl-infer SRC --model {output}             # run on a video, camera or images")
