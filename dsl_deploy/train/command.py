"""dsl-train's training options: the argparse flags, their mapping onto the config, and the run itself."""
from __future__ import annotations

import argparse
import copy
import shutil
from pathlib import Path
from typing import Any

from ..errors import InputError
from .config import TrainConfig, apply, from_dict, load_config

D = TrainConfig()
# Explicit flag -> config key; a flag given on the command line beats --set, which beats --config.
FLAG_KEYS = {
    "data": "data.train", "data2": "data.train2", "val_data": "data.val", "workers": "data.workers",
    "backbone": "model.backbone", "architecture": "model.architecture", "size": "model.size",
    "backbone_weights": "model.backbone_weights",
    "batch_size": "optim.batch_size", "lr": "optim.lr", "warmup_steps": "optim.warmup_steps",
    "epochs": "run.epochs", "steps_per_epoch": "run.steps_per_epoch", "seed": "run.seed",
    "device": "run.device", "threads": "run.threads", "out_dir": "run.out_dir",
}


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """The training options of dsl-train (--architecture/--backbone/--size/--seed are shared with --init-only)."""
    g = p.add_argument_group("training (values: flag > --set > --config > resumed run > built-in default)")
    g.add_argument("--config", metavar="TOML", default=None,
                   help="configuration file with [model] [data] [optim] [loss] [run] sections "
                        "(default: none; see configs/synthetic-small.toml and --print-config)")
    g.add_argument("--set", dest="overrides", metavar="SECTION.KEY=VALUE", action="append", default=[],
                   help="override one configuration value, e.g. --set optim.lr=0.01 (repeatable)")
    g.add_argument("--data", metavar="SOURCE", default=None,
                   help=f"training images: synthetic:N, coco:PATH or deepsport:PATH, or a bare COCO .json file or "
                        f"DeepSport folder (default: {D.data.train})")
    g.add_argument("--data2", metavar="SOURCE", default=None,
                   help="second training source; each batch then takes an equal share of both, as the paper "
                        "mixes COCO and DeepSport (default: none)")
    g.add_argument("--val-data", metavar="SOURCE", default=None,
                   help=f"validation images, or 'none' (default: {D.data.val}, seed {D.data.val_seed})")
    g.add_argument("--epochs", type=int, default=None, help=f"epochs (default: {D.run.epochs})")
    g.add_argument("--steps-per-epoch", type=int, default=None,
                   help="optimizer steps per epoch (default: one pass over the training source)")
    g.add_argument("--batch-size", type=int, default=None, help=f"images per step (default: {D.optim.batch_size})")
    g.add_argument("--lr", type=float, default=None, help=f"SGD learning rate (default: {D.optim.lr:g}, as the paper)")
    g.add_argument("--warmup-steps", type=int, default=None,
                   help=f"linear learning-rate warmup steps (default: {D.optim.warmup_steps})")
    g.add_argument("--workers", type=int, default=None,
                   help=f"DataLoader worker processes (default: {D.data.workers})")
    g.add_argument("--device", default=None,
                   help=f"auto, cpu, cuda or cuda:N (default: {D.run.device}: CUDA when present)")
    g.add_argument("--threads", type=int, default=None,
                   help=f"torch CPU threads, e.g. 1 next to other work on a small machine "
                        f"(default: {D.run.threads}: torch's own choice, one per core)")
    g.add_argument("--out-dir", metavar="DIR", default=None,
                   help=f"run folder for last.pth, best.pth, log.csv, config.toml (default: {D.run.out_dir})")
    g.add_argument("--resume", metavar="PTH", default=None,
                   help="continue the run saved in this checkpoint (last.pth), with its configuration "
                        "unless overridden (default: start afresh)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (default: show one)")
    g.add_argument("--print-config", action="store_true",
                   help="print the resulting configuration as TOML and exit (default: train)")


def explicit_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> dict[str, Any]:
    """Only the options given on the command line (parsing again with every default suppressed)."""
    quiet = copy.deepcopy(parser)
    for action in quiet._actions:  # noqa: SLF001 - argparse has no public way to list them
        action.default = argparse.SUPPRESS
    return vars(quiet.parse_args(argv))


def resolve_config(given: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """Config from base (defaults or a resumed run) + --config + --set + explicit flags."""
    config = load_config(given.get("config"), given.get("overrides"), base)
    flags: dict[str, Any] = {}
    for dest, key in FLAG_KEYS.items():
        if dest in given and given[dest] is not None:
            value = given[dest]
            if dest == "val_data" and str(value).lower() == "none":
                value = ""
            flags[key] = value
    name = {k: "--" + d.replace("_", "-") for d, k in FLAG_KEYS.items()}
    for key, value in flags.items():
        config = apply(config, {key: value}, name[key])
    return config


def run_training(given: dict[str, Any], args: argparse.Namespace) -> int:
    """dsl-train without --init-only: resolve the configuration, train, report where things were written.

    `given` holds only the options given on the command line (see `explicit_arguments`).
    """
    from ..model import load_checkpoint
    from .loop import Trainer

    resume = None
    base = None
    if args.resume:
        resume = load_checkpoint(args.resume)
        if "config" in resume.train:
            stored = copy.deepcopy(resume.train["config"])
            if isinstance(stored.get("model"), dict):  # runs from before the field: the checkpoint's network
                stored["model"].setdefault("architecture", resume.spec.architecture)
            base = from_dict(stored, f"{args.resume} config")
    config = resolve_config(given, base)
    if args.print_config:
        print(config.to_toml(), end="")
        return 0
    if resume is not None and (config.model.architecture, config.model.backbone, config.model.size) != (
            resume.spec.architecture, resume.spec.backbone, resume.spec.input.width):
        raise InputError(f"--resume {args.resume}: the checkpoint is {resume.spec.architecture} "
                         f"{resume.spec.backbone} at "
                         f"{resume.spec.input.width}x{resume.spec.input.height}; the configuration asks for "
                         f"{config.model.architecture} {config.model.backbone} at {config.model.size}; drop "
                         "--architecture/--backbone/--size to resume")
    trainer = Trainer(config, resume=resume, resume_path=str(args.resume or ""), progress=not args.no_progress)
    summary = trainer.run()
    _report(summary, trainer)
    if given.get("output"):
        out = Path(given["output"])
        src = trainer.out_dir / ("best.pth" if (trainer.out_dir / "best.pth").exists() else "last.pth")
        shutil.copyfile(src, out)
        print(f"copied {src} to {out}")
    return 0


def _report(summary: dict[str, Any], trainer: Any) -> None:
    """The figures of the run: training loss at the start and end, validation before and after."""
    losses = summary["train_losses"]
    if len(losses) >= 2:
        n = max(1, min(20, len(losses) // 5))
        first, last = sum(losses[:n]) / n, sum(losses[-n:]) / n
        print(f"train loss: mean of the first {n} steps {first:.4g} -> last {n} steps {last:.4g} "
              f"({100 * (last - first) / first:+.1f}%)")
    hist = summary["history"]
    if len(hist) >= 2:
        a, b = hist[0], hist[-1]
        keys = [k for k in ("pSQ", "pDQ", "AP", "bDQ") if k in b]
        line = "  ".join(f"{k} {_v(a.get(k))} -> {_v(b.get(k))}" for k in keys)
        if any(f"paper_{k}" in b for k in keys):  # the coco protocol's, then the paper protocol's measures
            line = f"coco: {line}  |  paper: " + "  ".join(
                f"{k} {_v(a.get(f'paper_{k}'))} -> {_v(b.get(f'paper_{k}'))}" for k in keys)
        print(f"validation (step {a['step']} -> {b['step']}): loss {a['val_total']:.4g} -> "
              f"{b['val_total']:.4g}  {line}")
    seconds = summary.get("seconds")
    if seconds is not None:
        print(f"wall time: {seconds:.0f} s ({seconds / 60:.1f} min) for {len(losses)} steps and "
              f"{len(hist)} validations, {summary.get('threads', '?')} torch thread(s)")
    out = trainer.out_dir
    print(f"wrote {out / 'last.pth'}, {out / 'best.pth'}, {out / 'log.csv'}, {out / 'config.toml'}")
    print(f"next: dsl-export {out / 'best.pth'} -o {out / 'model.onnx'}")


def _v(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}"
