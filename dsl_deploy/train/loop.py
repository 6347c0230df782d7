"""The training loop: SGD on the Eq. 1 loss, validation per epoch, resumable checkpoints, Ctrl-C safe."""
from __future__ import annotations

import math
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from ..errors import BackendUnavailable, DslError, InputError
from ..model import Checkpoint, build_model, save_checkpoint
from ..signals import GracefulStop
from ..spec import default_spec
from .config import TrainConfig
from .dataset import TrainingSet, epoch_plan, make_loader, validation_samples
from .losses import LOSS_NAMES, compute_losses
from .runlog import RunLog
from .sources import open_training_data
from .state import check_resumable, seed_everything, set_rng_state, training_state
from .validate import METRIC_KEYS, metrics_available, validate


class TrainingInterrupted(DslError):
    """Ctrl-C (SIGINT) stopped the run after a resumable checkpoint was written."""

    exit_code = 130


def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'; refuse a device that is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device: {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailable(f"--device {name}: no CUDA device is available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BackendUnavailable(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise InputError(f"--device: {name!r} is not supported; expected auto, cpu, cuda or cuda:N")
    return device


def _warmup(steps: int) -> Callable[[int], float]:
    return lambda s: 1.0 if steps <= 0 or s >= steps else 0.01 + 0.99 * s / steps


class Trainer:
    """One training run; `run()` trains, validates and writes last.pth / best.pth / log.csv / config.toml."""

    def __init__(self, config: TrainConfig, resume: Checkpoint | None = None, resume_path: str = "",
                 progress: bool = True, echo: Callable[[str], None] = print):
        self.config, self.progress, self.echo = config, progress, echo
        c = config
        self.out_dir = Path(c.run.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.device = resolve_device(c.run.device)
        if c.run.threads > 0:
            torch.set_num_threads(c.run.threads)
        seed_everything(c.run.seed)
        if resume is not None:
            check_resumable(resume.train, resume_path)
            self.spec, self.model = resume.spec, resume.model
        else:
            self.spec = default_spec(c.model.backbone, c.model.size, c.model.architecture)
            if not self.spec.fits_strides():
                echo(f"warning: size {c.model.size} does not fit the strides ((size-1) % "
                     f"{self.spec.backbone_stride} != 0); outputs will be interpolated")
            self.model = build_model(self.spec, backbone_weights=c.model.backbone_weights or None)
        self.model.to(self.device).train()
        o = c.optim
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=o.lr, momentum=o.momentum,
                                         weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _warmup(o.warmup_steps))
        self.epoch = self.epoch_step = self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        if resume is not None:
            t = resume.train
            self.optimizer.load_state_dict(t["optimizer"])
            self.scheduler.load_state_dict(t["scheduler"])
            # A resumed run may change the learning rate on purpose: the configured one wins.
            self.scheduler.base_lrs = [o.lr for _ in self.scheduler.base_lrs]
            self.epoch, self.epoch_step, self.step = int(t["epoch"]), int(t["epoch_step"]), int(t["step"])
            self.history, self.best = list(t.get("history") or []), t.get("best")
            set_rng_state(t.get("rng") or {})
        self.sources = [open_training_data(c.data.train, self.spec, c.run.seed, "--data (data.train)")]
        if c.data.train2:
            self.sources.append(open_training_data(c.data.train2, self.spec, c.run.seed + 1,
                                                   "--data2 (data.train2)"))
        share = c.optim.batch_size // len(self.sources)
        self.steps_per_epoch = c.run.steps_per_epoch or max(1, min(len(s) for s in self.sources) // share)
        self.val = None
        if c.data.val:
            val_source = open_training_data(c.data.val, self.spec, c.data.val_seed, "--val-data (data.val)")
            self.val = validation_samples(val_source, self.spec, c.loss.targets)
        self.metrics_note = metrics_available() if c.run.val_metrics else "disabled by run.val_metrics"
        (self.out_dir / "config.toml").write_text(c.to_toml(), encoding="utf-8")

    # ---- checkpoints ------------------------------------------------------
    def _save(self, name: str, interrupted: bool = False, finished: bool = False) -> Path:
        train = training_state(epoch=self.epoch, epoch_step=self.epoch_step, step=self.step,
                               optimizer=self.optimizer, scheduler=self.scheduler, config=self.config.to_dict(),
                               history=self.history, best=self.best, seed=self.config.run.seed,
                               interrupted=interrupted, finished=finished)
        path = self.out_dir / name
        save_checkpoint(path, self.model, self.spec, train)
        return path

    # ---- one step, one validation -------------------------------------------
    def _train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        image = batch.pop("image")
        losses = compute_losses(self.model(image), batch, self.config.loss)
        if not torch.isfinite(losses["total"]):
            bad = {k: float(v) for k, v in losses.items()}
            raise InputError(f"training diverged at step {self.step + 1}: losses {bad}; lower optim.lr or set "
                             "optim.warmup_steps / optim.grad_clip")
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        if self.config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def _validate(self, log: RunLog, label: str) -> dict[str, Any] | None:
        if self.val is None:
            return None
        t0 = time.perf_counter()
        res = validate(self.model, self.val, self.spec, self.device, self.config.loss,
                       batch_size=self.config.optim.batch_size, with_metrics=self.metrics_note is None)
        res.update(epoch=self.epoch, step=self.step, seconds=time.perf_counter() - t0)
        self.history.append(res)
        log.write("val", self.epoch, self.step, res)
        metrics = f"coco: {_metrics(res, '')}  |  paper: {_metrics(res, 'paper_')}" if self.metrics_note is None \
            else f"(metrics skipped: {self.metrics_note})"
        self.echo(f"val {label}: loss {res['val_total']:.4g} ({_losses(res, 'val_')})  {metrics}")
        return res

    # ---- the run ------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train for the configured epochs; returns a summary (first/last losses, validation history)."""
        c = self.config
        t_start = time.perf_counter()
        log = RunLog(self.out_dir)
        if log.tb_note:
            self.echo(f"note: {log.tb_note}")
        n_params = sum(p.numel() for p in self.model.parameters())
        self.echo(f"training {self.spec.architecture} {self.spec.backbone} ({n_params / 1e6:.1f} M parameters) at "
                  f"{self.spec.input.width}x{self.spec.input.height} on {self.device}: epochs {c.run.epochs} x "
                  f"{self.steps_per_epoch} steps, batch {c.optim.batch_size}, lr {c.optim.lr:g}, "
                  f"{torch.get_num_threads()} thread(s); output {self.out_dir}")
        train_losses: list[float] = []
        try:
            with GracefulStop((signal.SIGINT,)) as stop:
                if self.step == 0 and not self.history:
                    self._validate(log, "untrained")
                while self.epoch < c.run.epochs:
                    self._run_epoch(log, stop, train_losses)
                    if stop.requested:
                        break
                    self.epoch += 1
                    self.epoch_step = 0
                    res = self._validate(log, f"epoch {self.epoch}")
                    self._save("last.pth", finished=self.epoch >= c.run.epochs)
                    if res is None or self.best is None or res["val_total"] <= self.best["val_total"]:
                        self.best = {"epoch": self.epoch, "step": self.step,
                                     "val_total": res["val_total"] if res else math.nan}
                        self._save("best.pth")
                    if stop.requested:
                        break
                if stop.requested:
                    path = self._save("last.pth", interrupted=True)
                    raise TrainingInterrupted(
                        f"interrupted at epoch {self.epoch + 1} step {self.step}; wrote {path}; continue with: "
                        f"dsl-train --resume {path}")
        finally:
            log.close()
        return {"step": self.step, "epoch": self.epoch, "train_losses": train_losses, "history": self.history,
                "out_dir": str(self.out_dir), "seconds": time.perf_counter() - t_start,
                "threads": torch.get_num_threads()}

    def _run_epoch(self, log: RunLog, stop: GracefulStop, train_losses: list[float]) -> None:
        c = self.config
        b = c.optim.batch_size
        plan = epoch_plan([len(s) for s in self.sources], b, self.steps_per_epoch, c.run.seed, self.epoch)
        data = TrainingSet(self.sources, self.spec, plan[self.epoch_step * b:], c.data.augment, c.loss.targets)
        loader = make_loader(data, b, c.data.workers, c.run.seed + self.epoch)
        sums = {name: 0.0 for name in ("total",) + LOSS_NAMES}
        count = 0
        t0 = time.perf_counter()
        bar = tqdm(total=self.steps_per_epoch, initial=self.epoch_step, desc=f"epoch {self.epoch + 1}/{c.run.epochs}",
                   disable=not self.progress, dynamic_ncols=True, leave=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="input size .* does not fit")
            for batch in loader:
                losses = self._train_step(batch)
                self.step += 1
                self.epoch_step += 1
                count += 1
                train_losses.append(losses["total"])
                for k in sums:
                    sums[k] += losses[k]
                if self.step % c.run.log_every == 0:
                    log.write("train", self.epoch + 1, self.step, dict(losses, lr=self.scheduler.get_last_lr()[0],
                                                                     seconds=time.perf_counter() - t0))
                bar.set_postfix({k: f"{v / count:.3g}" for k, v in sums.items()}, refresh=False)
                bar.update(1)
                if stop.requested:
                    break
        bar.close()
        if count:
            self.echo(f"epoch {self.epoch + 1}: step {self.step}, mean train loss {sums['total'] / count:.4g} "
                      f"({', '.join(f'{k} {sums[k] / count:.3g}' for k in LOSS_NAMES)}), "
                      f"{time.perf_counter() - t0:.0f} s")


def _fmt(v: Any) -> str:
    # Two decimals: early in a run AP is a few hundredths of a percent, which one decimal prints as 0.0.
    return "-" if v is None else f"{v:.2f}"


def _metrics(res: dict[str, Any], prefix: str) -> str:
    return "  ".join(f"{k} {_fmt(res.get(prefix + k))}" for k in METRIC_KEYS)


def _losses(res: dict[str, Any], prefix: str) -> str:
    return ", ".join(f"{k} {res[prefix + k]:.3g}" for k in LOSS_NAMES)
