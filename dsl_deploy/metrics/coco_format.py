"""COCO-format result records (keypoints, and segmentation as compressed RLE) that pycocotools loads."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..result import FrameResult, mask_to_rle

PERSON_CATEGORY = 1


def rle_counts_to_string(counts: list[int]) -> str:
    """COCO's compressed RLE string of column-major run lengths (the format of pycocotools' `encode`)."""
    chars: list[str] = []
    for i, run in enumerate(counts):
        x = int(run)
        if i > 2:
            x -= int(counts[i - 2])  # runs are stored as differences to the run two before
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def compressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """{'size': [h, w], 'counts': str} of a boolean mask, as pycocotools writes it."""
    rle = mask_to_rle(mask)
    return {"size": rle["size"], "counts": rle_counts_to_string(rle["counts"])}


def result_records(result: FrameResult, image_id: int, *, category_id: int = PERSON_CATEGORY
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(keypoint records, segmentation records) of one frame, one per detected player."""
    kps, segs = [], []
    for i in range(result.num_players):
        score = round(float(result.scores[i]), 5)
        flat = []
        for x, y, s in result.keypoints[i]:
            flat += [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
        kps.append({"image_id": int(image_id), "category_id": category_id, "keypoints": flat, "score": score})
        segs.append({"image_id": int(image_id), "category_id": category_id,
                     "segmentation": compressed_rle(result.mask(i)), "score": score})
    return kps, segs
