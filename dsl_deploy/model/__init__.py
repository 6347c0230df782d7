"""The DeepSportLab network (Sec. 3.2) in two variants, and its checkpoints; needs torch."""
from __future__ import annotations

from .checkpoint import Checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from .deepsportlab import DeepSportLabNet
from .light import LightNet
from .network import build_model

__all__ = ["build_model", "DeepSportLabNet", "LightNet", "Checkpoint", "save_checkpoint", "load_checkpoint",
           "read_checkpoint"]
