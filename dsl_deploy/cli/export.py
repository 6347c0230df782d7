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

The authors' checkpoints (their whole pickled model, {'model_state_dict': ...} or a bare state dict) are
read without their code and without running anything from the file: only tensors and module state are
rebuilt; a file naming anything else is refused. Their network is the default architecture here.

The ONNX file takes `image` [B,3,H,W] float32 (RGB, ImageNet-normalised: see dsl_deploy.preprocess) and
returns the ready fields `player`, `offset`, `pif` (docs/architecture.md); the batch axis is dynamic.
"""


def build_parser() -> argparse.ArgumentParser:
    """The dsl-export argument parser."""
    p = argparse.ArgumentParser(prog="dsl-export", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint written by dsl-train (.pth), or the authors' (.pkl, state dict)")
    p.add_argument("-o", "--output", metavar="ONNX", default=None,
                   help="ONNX file to write (default: the checkpoint's name with .onnx)")
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
    return p


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


@cli_entry("dsl-export")
def main(argv: list[str] | None = None) -> int:
    """Entry point of dsl-export."""
    args = build_parser().parse_args(argv)
    _check_args(args)
    step = _Steps()
    source = Path(args.checkpoint)
    if not source.is_file():  # before importing torch: the commonest mistake gets its answer at once
        raise ArtifactError(f"{source}: no such checkpoint file")
    if source.suffix.lower() in NOT_CHECKPOINTS:
        raise ArtifactError(f"{source}: is {NOT_CHECKPOINTS[source.suffix.lower()]}, not a checkpoint; dsl-export "
                            "takes a checkpoint (.pth from dsl-train, or the authors' .pkl / state dict). An ONNX "
                            f"file is already exported: dsl-build {_quote(source)} --target <profile>, or dsl-infer "
                            f"SRC --model {_quote(source)}")
    output = Path(args.output) if args.output else source.with_suffix(".onnx")
    if not args.info:
        from ..runtime.outputs import OutputPlan

        OutputPlan([("checkpoint", source)]).file("-o/--output", output).check()
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
    try:
        export_onnx(ckpt.model, spec, output, opset=args.opset, simplify=not args.no_simplify,
                    dynamic_batch=not args.static_batch, exporter=args.exporter,
                    parity_atol=None if args.no_parity else args.atol, log=step)
    except (ArtifactError, OSError) as exc:
        _check_free_space(source, output, failed=exc)  # a full disk is said as such, not as an opset problem
        raise
    if args.uint8_input:
        from ..export.uint8_input import write_uint8_model
        write_uint8_model(output, output)
        step("input: uint8 BGR frames [B, H, W, 3], normalised in the graph (after the parity check)")
    size_mb = output.stat().st_size / 2 ** 20
    step(f"wrote {output} ({size_mb:.1f} MB; onnx.checker ok; spec in metadata)")
    print("\nnext:")
    print(f"  dsl-build {output} --target <profile>      # TensorRT engine (on the GPU that will run it)")
    print(f"  dsl-bench --onnx {output}                  # ms and MB per stage on ONNX Runtime")
    print(f"  dsl-infer SRC --model {output}             # run on a video, camera or images")
    return 0
