"""Every COCO-format record dsl_deploy writes, loadable by pycocotools: dsl-eval's results and ground truth,
dsl-infer's results file (`coco_record`); segmentations as compressed RLE (`dsl_deploy.rle`)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.annotations import Annotation
from ..result import FrameResult
from ..rle import compressed_rle, rle_counts_to_string
from ..spec import BODY_PARTS, SKELETON

PERSON_CATEGORY = 1


def _segmentation(result: FrameResult, i: int) -> dict[str, Any]:
    """Player i's mask as compressed RLE (a MappedResult gives its run lengths without building the map)."""
    rle = result.rle(i)
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
                     "segmentation": _segmentation(result, i), "score": score})
    return kps, segs


def coco_record(result: FrameResult, index: int, *, file_name: str = "", masks: bool = True
                ) -> list[dict[str, Any]]:
    """COCO results of one frame: per player bbox (x, y, w, h), keypoints (x, y, score)*17, score, RLE mask."""
    records = []
    for i in range(result.num_players):
        x0, y0, x1, y1 = (float(v) for v in result.boxes[i])
        rec: dict[str, Any] = {
            "image_id": int(index), "category_id": PERSON_CATEGORY, "score": round(float(result.scores[i]), 5),
            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "keypoints": [round(float(v), 3) for v in np.asarray(result.keypoints[i]).reshape(-1)],
        }
        if masks:
            rec["segmentation"] = _segmentation(result, i)
        if file_name:
            rec["file_name"] = file_name
        records.append(rec)
    return records


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
