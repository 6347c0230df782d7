"""Resumable training state inside a checkpoint's `train` dict: counters, optimiser, scheduler, RNGs."""
from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch

from ..errors import ArtifactError


def rng_state() -> dict[str, Any]:
    """The torch, CUDA, NumPy and Python generator states, as values torch.load(weights_only=True) reads."""
    kind, keys, pos, has_gauss, cached = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved (missing parts are left alone)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], np.asarray(n["keys"], np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "python" in state:
        p = state["python"]
        random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy's global generator and Python's `random`."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def training_state(*, epoch: int, epoch_step: int, step: int, optimizer: torch.optim.Optimizer,
                   scheduler: Any, config: dict, history: list, best: dict | None, seed: int,
                   interrupted: bool = False, finished: bool = False) -> dict[str, Any]:
    """The checkpoint `train` dict of docs/architecture.md, complete enough to resume from."""
    return {
        "epoch": epoch,  # completed epochs
        "epoch_step": epoch_step,  # optimizer steps done in the epoch under way
        "step": step,  # optimizer steps in all
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "config": config,
        "history": history,
        "best": best,
        "seed": seed,
        "interrupted": interrupted,
        "finished": finished,
    }


def check_resumable(train: dict[str, Any], source: str) -> None:
    """Refuse a checkpoint that has no training state to resume from (e.g. one written by --init-only)."""
    missing = [k for k in ("epoch", "epoch_step", "step", "optimizer", "scheduler", "config") if k not in train]
    if missing:
        raise ArtifactError(f"{source}: cannot resume: the checkpoint has no training state ({', '.join(missing)} "
                            "missing); it was not written by a dsl-train run (an --init-only checkpoint "
                            "holds weights only)")
