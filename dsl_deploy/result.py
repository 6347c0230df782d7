"""FrameResult: what the decoder returns and the runtime emits, in one shape for every implementation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from . import jsonline
from .rle import mask_to_rle


def rounded(values: Any, ndigits: int) -> Any:
    """`round(float(v), ndigits)` of every element, as (nested) lists of Python floats: the same numbers bit for bit.

    Python's round is correctly rounded (the decimal digits of the exact binary value, ties to even) and costs
    about 0.4 us a number; NumPy's rint(v * 10^n) / 10^n gives the same double wherever v * 10^n is not within 1e-6
    of a tie (its rounding error there is below 1e-7 for |v * 10^n| < 1e9), and Python's round does the rest.
    """
    a = np.asarray(values, np.float64)
    scale = 10.0 ** ndigits
    scaled = a * scale
    out = np.rint(scaled) / scale
    with np.errstate(invalid="ignore"):  # NaN and inf are left to Python's round
        sure = (np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) > 1e-6) & (np.abs(scaled) < 1e9)
    if not sure.all():
        flat, src = out.reshape(-1), a.reshape(-1)
        for i in np.flatnonzero(~sure.reshape(-1)):
            flat[i] = round(float(src[i]), ndigits)
    return out.tolist()


class Ball(NamedTuple):
    """Top-1 ball detection: position (x, y) in pixels and the fused-map score."""

    x: float
    y: float
    score: float


@dataclass
class FrameResult:
    """Decoded players, poses and ball of one frame.

    Players are indexed 0..N-1; `labels` holds i + 1 where player i is and 0 elsewhere. Boxes are
    [x0, y0, x1, y1] with x1, y1 exclusive. Keypoints are [N, 17, 3] of (x, y, score); score 0 means
    the part was not found on that player. Coordinates are (x, y) in pixels of the image the fields
    were decoded on (network input), or of the original frame after `Pipeline` maps them back.
    """

    labels: np.ndarray  # int32 [H, W]
    keypoints: np.ndarray  # float32 [N, 17, 3]
    scores: np.ndarray  # float32 [N]
    boxes: np.ndarray  # float32 [N, 4]
    areas: np.ndarray  # int64 [N]
    centers: np.ndarray  # float32 [N, 2]
    ball: Ball | None
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage
    frame_index: int | None = None
    timestamp: float | None = None

    @property
    def num_players(self) -> int:
        """Number of player instances."""
        return int(self.scores.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the label map."""
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    def mask(self, i: int) -> np.ndarray:
        """Boolean mask of player i."""
        return self.labels == (i + 1)

    def rle(self, i: int) -> dict[str, Any]:
        """COCO uncompressed RLE of player i's mask (what to_dict writes)."""
        return mask_to_rle(self.mask(i))

    @classmethod
    def empty(cls, height: int, width: int) -> "FrameResult":
        """A frame with no player and no ball."""
        return cls(
            labels=np.zeros((height, width), np.int32),
            keypoints=np.zeros((0, 17, 3), np.float32),
            scores=np.zeros((0,), np.float32),
            boxes=np.zeros((0, 4), np.float32),
            areas=np.zeros((0,), np.int64),
            centers=np.zeros((0, 2), np.float32),
            ball=None,
        )

    def to_dict(self, *, masks: bool = True) -> dict[str, Any]:
        """JSON-able dict; each player's mask as COCO uncompressed RLE, or left out with masks=False."""
        if not isinstance(masks, bool):
            raise ValueError(f"masks: expected True or False, got {masks!r}")
        players = []
        # Python floats rounded as round(float(v), n) would, in a few array passes rather than one call per number.
        scores, boxes, centers = rounded(self.scores, 5), rounded(self.boxes, 2), rounded(self.centers, 2)
        keypoints = rounded(self.keypoints, 3)
        areas = np.asarray(self.areas).tolist()
        for i in range(self.num_players):
            p: dict[str, Any] = {
                "id": i + 1,
                "score": scores[i],
                "bbox": boxes[i],
                "area": int(areas[i]),
                "center": centers[i],
                "keypoints": keypoints[i],
            }
            if masks:
                p["mask"] = self.rle(i)
            players.append(p)
        out: dict[str, Any] = {
            "size": list(self.size),
            "ball": None if self.ball is None else {k: round(float(v), 4) for k, v in self.ball._asdict().items()},
            "players": players,
            "timings_ms": {k: round(float(v), 4) for k, v in self.timings.items()},
        }
        if self.frame_index is not None:
            out["frame"] = int(self.frame_index)
        if self.timestamp is not None:
            out["timestamp"] = float(self.timestamp)
        return out

    def to_json(self, *, masks: bool = True) -> str:
        """One line of JSON (for JSON-lines sinks)."""
        return jsonline.dumps(self.to_dict(masks=masks)).decode()
