"""Quality measures of Sec. 4: bDQ (ball ROC AUC), pSQ/pDQ (player Panoptic Quality terms), pose AP/AR/F1.

Two protocols: 'paper' (the authors' own measures as their scripts compute them: `paper`, `paper_pose`,
`paper_ball`) and 'coco' (COCO OKS AP/AR, PQ with void, exact ROC AUC: `keypoints`, `panoptic`, `ball`).
`Evaluator` accumulates (FrameResult, Annotation) pairs and returns both in percent; `format_table`
prints one protocol in the layout of the paper's Table 1. numpy only: no torch.
"""
from .ball import BallAccumulator, roc_auc
from .evaluator import PROTOCOLS, Evaluator, format_table
from .keypoints import OksAccumulator, deepsport_sigmas, oks_matrix, to_deepsport
from .panoptic import PanopticCounts, on_court, panoptic_counts
from .paper import PaperProtocol, paper_panoptic_counts

__all__ = ["BallAccumulator", "Evaluator", "OksAccumulator", "PROTOCOLS", "PanopticCounts", "PaperProtocol",
           "deepsport_sigmas", "format_table", "oks_matrix", "on_court", "panoptic_counts", "paper_panoptic_counts",
           "roc_auc", "to_deepsport"]
