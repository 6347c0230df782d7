"""dsl-train: train the network, or (--init-only) write an untrained, seeded checkpoint."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import InputError
from ..spec import ARCHITECTURES, BACKBONES
from .common import cli_entry

EPILOG = """\
examples:
  dsl-train --config configs/synthetic-small.toml       # the documented small CPU run (resnet18, synthetic)
  dsl-train --data coco:annotations/person_keypoints_train2017.json --data2 deepsport:basketball-instants \\
            --val-data deepsport:val-instants --backbone resnet50 --epochs 50 --device cuda
  dsl-train --resume runs/train/last.pth --epochs 20    # continue a run (also after Ctrl-C)
  dsl-train --config my.toml --set optim.lr=1e-3 --set loss.w_cnf=10 --print-config
  dsl-train --init-only --backbone resnet50 -o model.pth     # untrained, seeded checkpoint at 641x641
  dsl-train --init-only --architecture light -o light.pth    # the lighter variant (2.6x fewer FLOPs)
  dsl-train --init-only --backbone resnet18 --size 161 -o small.pth
  dsl-train --init-only --backbone-weights resnet50-0676ba61.pth -o model.pth   # ImageNet backbone, local file

Nothing is ever downloaded: pass --backbone-weights with a local torchvision weight file.
Training writes last.pth, best.pth (lowest validation loss), log.csv and config.toml to --out-dir;
Ctrl-C stops after the current step with a resumable last.pth.
"""


def build_parser() -> argparse.ArgumentParser:
    """The dsl-train argument parser (the training options come from dsl_deploy.train.command)."""
    p = argparse.ArgumentParser(prog="dsl-train", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init-only", action="store_true",
                   help="write the freshly initialised network as a checkpoint and stop (no training)")
    p.add_argument("--architecture", default="deepsportlab", choices=ARCHITECTURES,
                   help="network: deepsportlab (the authors' network, as the paper) or light (max-pool kept, "
                        "layer4 dilated, decoder at stride 4: 2.6x fewer FLOPs) (default: %(default)s; when "
                        "training, the config's value)")
    p.add_argument("--backbone", default="resnet50", choices=BACKBONES,
                   help="ResNet backbone (default: %(default)s, as the paper; when training, the config's value)")
    p.add_argument("--size", type=int, default=641,
                   help="square network input size in pixels; fits the strides when (size-1) %% 16 == 0 "
                        "(default: %(default)s, as the paper; when training, the config's value)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the initialisation and of training (default: %(default)s)")
    p.add_argument("--backbone-weights", metavar="FILE", default=None,
                   help="local torchvision ResNet weight file (.pth) for the backbone (default: none, random init)")
    p.add_argument("-o", "--output", metavar="PTH", default="model.pth",
                   help="checkpoint to write (default: %(default)s); when training, a copy of the best "
                        "checkpoint is written here only if this option is given")
    try:
        from ..train.command import add_training_arguments
    except ImportError as exc:  # torch missing: --init-only and training both need it, say so on use
        p.set_defaults(training_unavailable=str(exc))
    else:
        add_training_arguments(p)
    return p


def _log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)


def check_common(args: argparse.Namespace) -> None:
    """Validate the options shared by --init-only and training; raise InputError naming the option."""
    if args.size < 33:
        raise InputError(f"--size: expected at least 33, got {args.size}")
    out = Path(args.output)
    if out.suffix.lower() not in (".pth", ".pt"):
        raise InputError(f"-o/--output: {out} should end in .pth (a checkpoint)")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise InputError(f"-o/--output: the folder {out.parent} does not exist")
    weights = getattr(args, "backbone_weights", None)
    if weights and not Path(weights).is_file():
        raise InputError(f"--backbone-weights: {weights}: backbone weight file not found (a local torchvision "
                         ".pth; nothing is downloaded)")


def init_only(args: argparse.Namespace) -> int:
    """Build the seeded, untrained network for --backbone/--size and save it to --output."""
    t0 = time.perf_counter()
    check_common(args)
    import torch

    from ..model import build_model, save_checkpoint
    from ..spec import default_spec

    spec = default_spec(args.backbone, args.size, args.architecture)
    if not spec.fits_strides():
        print(f"dsl-train: warning: --size {args.size} does not fit the network strides ((size-1) % "
              f"{spec.backbone_stride} != 0, e.g. {16 * ((args.size - 1) // 16) + 1}); outputs will be interpolated")
    torch.manual_seed(args.seed)
    _log(f"building {args.architecture} {args.backbone} at {args.size}x{args.size} (seed {args.seed})", t0)
    model = build_model(spec, backbone_weights=args.backbone_weights).eval()
    n_params = sum(p.numel() for p in model.parameters())
    train = {"epoch": 0, "step": 0, "seed": args.seed, "init_only": True,
             "backbone_weights": str(args.backbone_weights) if args.backbone_weights else None}
    save_checkpoint(args.output, model, spec, train)
    _log(f"wrote {args.output} ({n_params / 1e6:.2f} M parameters, untrained)", t0)
    print(f"next: dsl-export {args.output} -o {Path(args.output).with_suffix('.onnx')}")
    return 0


def train(parser: argparse.ArgumentParser, argv: list[str] | None, args: argparse.Namespace) -> int:
    """Training: the configuration from defaults, --config, --set and flags; see dsl_deploy.train."""
    if getattr(args, "training_unavailable", None):
        raise InputError(f"training needs torch ({args.training_unavailable}); pip install '.[train]'")
    if not (args.config or args.data or args.resume or args.print_config):
        raise InputError("no training data: training is not available without --data SOURCE (e.g. "
                         "synthetic:256), --config FILE (e.g. configs/synthetic-small.toml) or --resume PTH; "
                         "--init-only writes an untrained checkpoint")
    from ..train.command import explicit_arguments, run_training
    given = explicit_arguments(parser, argv)
    if "output" in given:
        check_common(args)
    return run_training(given, args)


@cli_entry("dsl-train")
def main(argv: list[str] | None = None) -> int:
    """Entry point of dsl-train."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.init_only:
        return init_only(args)
    return train(parser, argv, args)
