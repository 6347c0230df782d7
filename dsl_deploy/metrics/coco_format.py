"""COCO-format result records (keypoints, and segmentation as compressed RLE) that pycocotools loads."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.annotations import Annotation
from ..result import FrameResult, mask_to_rle
from ..spec import BODY_PARTS, SKELETON

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


def groundtruth_records(ann: Annotation, image_id: int, first_id: int, *, file_name: str = "",
                        category_id: int = PERSON_CATEGORY) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(COCO image entry, annotation entries) of one COCO-format Annotation, ids from `first_id`."""
    labels = ann.instances
    image = {"id": int(image_id), "width": ann.width, "height": ann.height, "file_name": file_name}
    anns = []
    for i in range(ann.num_players):
        mask = labels == i + 1
        ys, xs = np.nonzero(mask)
        bbox = ([int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
                if xs.size else [0, 0, 0, 0])
        kp = np.asarray(ann.keypoints[i], np.float64)
        anns.append({"id": int(first_id + i), "image_id": int(image_id), "category_id": category_id,
                     "iscrowd": 0, "area": int(xs.size), "bbox": bbox,
                     "segmentation": compressed_rle(mask),
                     "keypoints": [round(float(v), 2) for v in kp.ravel()],
                     "num_keypoints": int((kp[:, 2] > 0).sum())})
    return image, anns


def coco_document(images: list[dict[str, Any]], annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """A COCO ground-truth document with the person category and its 17 keypoints."""
    return {"images": images, "annotations": annotations,
            "categories": [{"id": PERSON_CATEGORY, "name": "person", "supercategory": "person",
                            "keypoints": list(BODY_PARTS), "skeleton": [[a + 1, b + 1] for a, b in SKELETON]}]}
