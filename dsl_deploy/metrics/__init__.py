"""Quality measures of Sec. 4: bDQ (ball ROC AUC), pSQ/pDQ (player Panoptic Quality terms), OKS AP/AR/F1.

`Evaluator` accumulates (FrameResult, Annotation) pairs and returns the paper's measures in percent;
`format_table` prints them in the layout of the paper's Table 1. numpy only: no torch.
"""
from .ball import BallAccumulator, roc_auc
from .evaluator import Evaluator, format_table
from .keypoints import OksAccumulator, deepsport_sigmas, oks_matrix, to_deepsport
from .panoptic import PanopticCounts, on_court, panoptic_counts

__all__ = ["BallAccumulator", "Evaluator", "OksAccumulator", "PanopticCounts", "deepsport_sigmas",
           "format_table", "oks_matrix", "on_court", "panoptic_counts", "roc_auc", "to_deepsport"]
