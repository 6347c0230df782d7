"""Strict image reading for the dataset loaders."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_image_file(path: str | Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """Decode an image file, or None when it is missing, empty, truncated or not an image.

    cv2.imread pads a truncated JPEG with grey (printing only a libjpeg warning), so a damaged file would
    be scored as if it were whole; decoding from memory with cv2.imdecode rejects it instead.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
        if data.size == 0:
            return None
        return cv2.imdecode(data, flags)
    except (OSError, cv2.error):
        return None
