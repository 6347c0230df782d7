"""Draw a FrameResult over its frame: instance masks, boxes, skeletons (spec.SKELETON) and the ball."""
from __future__ import annotations

import cv2
import numpy as np

from ..result import FrameResult
from ..spec import SKELETON

MASK_ALPHA = 0.45  # weight of the instance colour over the frame inside a mask
BALL_COLOUR = (0, 215, 255)  # BGR orange-yellow


def player_colours(n: int) -> np.ndarray:
    """n well-separated BGR colours (uint8 [n, 3]), the same for the same player id in every frame."""
    hues = (np.arange(n) * 47) % 180  # a step co-prime with 180 walks the hue circle without early repeats
    hsv = np.stack([hues, np.full(n, 200), np.full(n, 255)], axis=1).astype(np.uint8)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]


def draw_result(frame: np.ndarray, result: FrameResult, *, masks: bool = True) -> np.ndarray:
    """A copy of the BGR frame with the result drawn on it (result in frame pixels)."""
    out = np.array(frame, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    n = result.num_players
    colours = player_colours(max(n, 1))
    if masks and n:
        labels = result.labels
        if labels.shape != (h, w):  # a label map kept at network resolution ('crop' mode)
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        lut = np.zeros((n + 1, 3), np.uint8)
        lut[1:] = colours[:n]
        inside = labels > 0
        tinted = cv2.addWeighted(out, 1.0 - MASK_ALPHA, lut[labels.clip(0, n)], MASK_ALPHA, 0.0)
        out[inside] = tinted[inside]
    thick = max(1, round(min(h, w) / 320))
    for i in range(n):
        colour = tuple(int(c) for c in colours[i])
        x0, y0, x1, y1 = (int(round(v)) for v in result.boxes[i])
        cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), colour, thick)
        kp = result.keypoints[i]
        for a, b in SKELETON:
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                cv2.line(out, _pt(kp[a]), _pt(kp[b]), colour, thick, cv2.LINE_AA)
        for k in range(kp.shape[0]):
            if kp[k, 2] > 0:
                cv2.circle(out, _pt(kp[k]), thick + 1, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.putText(out, f"{i + 1}:{result.scores[i]:.2f}", (x0, max(10, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35 * thick, colour, 1, cv2.LINE_AA)
    if result.ball is not None:
        centre = _pt((result.ball.x, result.ball.y))
        cv2.circle(out, centre, 4 * thick + 2, BALL_COLOUR, thick, cv2.LINE_AA)
        cv2.putText(out, f"ball {result.ball.score:.2f}", (centre[0] + 6 * thick, centre[1]),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thick, BALL_COLOUR, 1, cv2.LINE_AA)
    return out


def _pt(xy) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))
