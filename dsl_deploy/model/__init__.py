"""The DeepSportLab network (Sec. 3.2) and its checkpoints; needs torch."""
from __future__ import annotations

from .checkpoint import Checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from .network import DeepSportLabNet, build_model

__all__ = ["build_model", "DeepSportLabNet", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint"]
