"""The run's log: one CSV row per logged step and per validation, mirrored to TensorBoard when installed."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from .losses import LOSS_NAMES
from .validate import METRIC_KEYS, PAPER_KEYS

COLUMNS = ("split", "epoch", "step", "lr", "seconds", "total") + LOSS_NAMES + METRIC_KEYS + PAPER_KEYS


class RunLog:
    """Appends rows to `log.csv` in the run folder (kept across --resume); TensorBoard is optional."""

    def __init__(self, out_dir: Path, tensorboard: bool = True):
        self.path = out_dir / "log.csv"
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        columns = COLUMNS
        if not fresh:  # a resumed run keeps the columns its log was started with
            with open(self.path, newline="", encoding="utf-8") as f:
                columns = tuple(next(csv.reader(f), COLUMNS))
        self.columns = columns
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        if fresh:
            self._csv.writeheader()
        self.tb: Any = None
        self.tb_note = ""
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
                self.tb = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                self.tb_note = "TensorBoard is not installed; the log is log.csv only"

    def write(self, split: str, epoch: int, step: int, values: dict[str, Any]) -> None:
        """One row: `values` holds losses (keys of LOSS_NAMES and total), lr, seconds and metrics."""
        row: dict[str, Any] = {"split": split, "epoch": epoch, "step": step}
        for key in self.columns[3:]:
            v = values.get(key, values.get(f"val_{key}"))
            row[key] = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
        self._csv.writerow(row)
        self._file.flush()
        if self.tb is not None:
            for key in self.columns[3:]:
                v = row[key]
                if v != "" and key != "seconds" and math.isfinite(float(v)):
                    self.tb.add_scalar(f"{split}/{key}", float(v), step)

    def close(self) -> None:
        """Flush and close the files."""
        self._file.close()
        if self.tb is not None:
            self.tb.close()
