"""A realistic input for parity checks and FLOP counts: a synthetic court frame, preprocessed."""
from __future__ import annotations

import cv2
import numpy as np

from ..preprocess import Preprocessor
from ..spec import ModelSpec


def sample_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A BGR uint8 frame of a court with players and a ball (the synthetic scenes when available)."""
    try:
        from ..data.synthetic import SyntheticScenes
        return np.ascontiguousarray(SyntheticScenes(seed, width, height)[0][0])
    except (ImportError, AttributeError, TypeError):  # the data package is optional at export time
        return _drawn_court(width, height, seed)


def _drawn_court(width: int, height: int, seed: int) -> np.ndarray:
    """A simple drawn stand-in: wooden floor, court lines, stick figures and a ball."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), (60, 120, 180), np.uint8)
    img = cv2.add(img, rng.integers(0, 25, img.shape, dtype=np.uint8))
    cv2.rectangle(img, (width // 10, height // 5), (width * 9 // 10, height * 9 // 10), (240, 240, 240), 2)
    cv2.circle(img, (width // 2, height * 11 // 20), max(4, width // 12), (240, 240, 240), 2)
    scale = max(width, height) / 641
    for _ in range(6):
        x, y = int(rng.uniform(0.15, 0.85) * width), int(rng.uniform(0.3, 0.8) * height)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        h = int(60 * scale)
        cv2.circle(img, (x, y - h), max(2, int(7 * scale)), (150, 180, 220), -1)
        cv2.line(img, (x, y - h), (x, y - h // 3), colour, max(2, int(10 * scale)))
        for dx in (-1, 1):
            cv2.line(img, (x, y - h // 3), (x + dx * int(12 * scale), y), (40, 40, 40), max(1, int(4 * scale)))
            cv2.line(img, (x, y - h * 3 // 4), (x + dx * int(18 * scale), y - h // 2), colour, max(1, int(4 * scale)))
    cv2.circle(img, (int(width * 0.6), int(height * 0.35)), max(2, int(6 * scale)), (0, 110, 230), -1)
    return img


def sample_batch(spec: ModelSpec, batch: int = 1, seed: int = 0) -> np.ndarray:
    """[batch, 3, H, W] float32: preprocessed sample frames at the spec's input size."""
    frames = [sample_frame(spec.input.width, spec.input.height, seed + i) for i in range(batch)]
    out, _ = Preprocessor(spec)(frames)
    return out.copy()
