"""The paper's Table 1 (DeepSport test set; V100, batch 1, 641x641): the figures we compare against."""
from __future__ import annotations

from typing import NamedTuple


class PaperRow(NamedTuple):
    """One method of Table 1: inference time (mean, std) in ms and GPU memory in MB."""

    method: str
    ms: float
    ms_std: float
    mb: float
    tasks: str


# Sec. 4, "Computational resources": NVIDIA V100, Intel Xeon Gold 5217, one 641x641 image per batch.
PAPER_MACHINE = "NVIDIA V100 + Intel Xeon Gold 5217 (paper, Sec. 4)"
PAPER_TABLE_1: tuple[PaperRow, ...] = (
    PaperRow("DeepSportLab", 436.0, 105.0, 1757.0, "ball + masks + poses"),
    PaperRow("Panoptic-DeepLab", 69.0, 7.0, 1809.0, "masks"),
    PaperRow("OpenPifPaf", 155.0, 18.0, 1623.0, "poses"),
    PaperRow("BallSeg", 14.0, 6.0, 1239.0, "ball"),
)
PAPER_DEEPSPORTLAB = PAPER_TABLE_1[0]
