"""Annotation: the one ground-truth type every dataset yields and the encoder and metrics consume."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError


@dataclass
class Annotation:
    """Ground truth of one image, in that image's pixels.

    `instances` is an int32 label map: 0 background, i + 1 the visible pixels of player i.
    `keypoints` is [N, 17, 3] of (x, y, v) with COCO visibility (0 not labelled, 1 occluded, 2 visible),
    or [N, 4, 3] for DeepSport poses (head, hip, foot1, foot2) when `pose_format` is 'deepsport'.
    `ball` is (x, y, radius) or None; `ignore` marks crowd or unannotated pixels the losses skip;
    `court` marks the playing area (evaluation discards instances outside it). `crowd` marks the pixels of
    crowd regions (people annotated as one group, COCO's iscrowd; they are also in `ignore`): the paper's
    evaluation protocol scores them as one player segment, where the COCO rules make them void.
    """

    instances: np.ndarray
    keypoints: np.ndarray
    ball: tuple[float, float, float] | None = None
    ignore: np.ndarray | None = None
    court: np.ndarray | None = None
    image_id: str = ""
    pose_format: str = "coco"
    crowd: np.ndarray | None = None

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.instances.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.instances.shape[1])

    @property
    def num_players(self) -> int:
        """Number of annotated players."""
        return int(self.keypoints.shape[0])

    def centers(self) -> np.ndarray:
        """[N, 2] centroid (x, y) of each player's visible mask (NaN for an empty mask)."""
        out = np.full((self.num_players, 2), np.nan, np.float32)
        ys, xs = np.nonzero(self.instances)
        if ys.size:
            lab = self.instances[ys, xs] - 1
            n = np.bincount(lab, minlength=self.num_players).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, 0] = np.bincount(lab, xs, minlength=self.num_players) / n
                out[:, 1] = np.bincount(lab, ys, minlength=self.num_players) / n
        return out

    def validate(self, source: str = "annotation") -> "Annotation":
        """Check shapes and ranges; raise DataError naming the source and the field."""
        if self.instances.ndim != 2 or self.instances.dtype != np.int32:
            raise DataError(f"{source}: 'instances' must be an int32 [H, W] label map, got "
                            f"{self.instances.dtype} {tuple(self.instances.shape)}")
        k = 4 if self.pose_format == "deepsport" else 17
        if self.keypoints.ndim != 3 or self.keypoints.shape[1:] != (k, 3):
            raise DataError(f"{source}: 'keypoints' must be [N, {k}, 3], got {tuple(self.keypoints.shape)}")
        if int(self.instances.max(initial=0)) > self.num_players or int(self.instances.min(initial=0)) < 0:
            raise DataError(f"{source}: label map values must lie in 0..{self.num_players}")
        if not np.isfinite(self.keypoints).all():
            raise DataError(f"{source}: keypoints contain NaN or inf")
        for name in ("ignore", "court", "crowd"):
            m = getattr(self, name)
            if m is not None and m.shape != self.instances.shape:
                raise DataError(f"{source}: '{name}' mask has shape {m.shape}, expected {self.instances.shape}")
        if self.ball is not None and (len(self.ball) != 3 or not np.isfinite(self.ball).all() or self.ball[2] <= 0):
            raise DataError(f"{source}: 'ball' must be (x, y, radius) with a positive radius, got {self.ball}")
        return self
