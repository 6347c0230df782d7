"""COCO-format datasets (person keypoints + segmentations, 'sports ball' as the ball) as Annotations.

The paper's filter (Sec. 4) keeps images that show people or a ball and drops images where one person
covers more than 10% of the image (close-ups unlike sports footage). Crowd regions (iscrowd = 1) become
the ignore mask, and also `Annotation.crowd` (the paper's evaluation protocol scores them as a player).
Entries are checked when the file is opened, so a malformed file fails at once with the file and the
entry named; masks and images are decoded lazily, per item.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, printable
from ..schema import Where, describe, parse_json
from ..spec import NUM_BODY_PARTS
from .annotations import Annotation
from .coco_masks import segmentation_mask
from .image_file import read_image_file

MAX_SIDE = 65535  # largest image side a COCO entry may declare
MAX_COORDINATE = 1e7  # |x|, |y| and box sizes beyond this are not pixels of any image (and overflow float32 maths)


def _coordinate(v: Any) -> bool:
    """A finite number within MAX_COORDINATE (not a bool)."""
    return (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
            and -MAX_COORDINATE <= v <= MAX_COORDINATE)


@dataclass
class _Image:
    """One kept image and the indices of its entries in the JSON 'annotations' list."""

    id: Any
    file_name: str
    width: int
    height: int
    persons: list[int] = field(default_factory=list)
    balls: list[int] = field(default_factory=list)
    crowds: list[int] = field(default_factory=list)


def _entry_name(n: int, entry: Any) -> str:
    ident = entry.get("id") if isinstance(entry, dict) else None
    return f"annotations[{n}]" + (f" (id {describe(ident)})" if ident is not None else "")


def default_image_dir(annotation_file: Path) -> Path:
    """COCO's own layout (annotations/person_keypoints_val2017.json next to val2017/), else the JSON's folder."""
    parent = annotation_file.parent
    split = annotation_file.stem.rsplit("_", 1)[-1]
    if parent.name == "annotations" and (parent.parent / split).is_dir():
        return parent.parent / split
    return parent


class CocoDataset:
    """`dataset[i] -> (image_bgr, Annotation)` over the kept images of a COCO-format JSON file."""

    def __init__(self, annotation_file: str | Path, image_dir: str | Path | None = None, *,
                 max_person_fraction: float | None = 0.1, keep_empty: bool = False,
                 person_category: str = "person", ball_category: str = "sports ball"):
        self.path = Path(annotation_file)
        self.image_dir = Path(image_dir) if image_dir is not None else default_image_dir(self.path)
        self.max_person_fraction = max_person_fraction
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{self.path}: COCO annotation file not found") from None
        except OSError as exc:
            raise DataError(f"{self.path}: not a readable COCO JSON file ({exc.strerror or exc})") from None
        # No walk over every value (a COCO file holds millions): the parser refuses what it cannot follow and
        # every field read below is checked for its type.
        data = parse_json(raw, source=str(self.path), error=DataError, what="COCO JSON file", max_depth=None)
        del raw
        self._where = Where(str(self.path), DataError)
        if not isinstance(data, dict):
            raise DataError(f"{self.path}: expected a JSON object with 'images', 'annotations', 'categories'")
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise DataError(f"{self.path}: missing or non-list '{key}' (a COCO file has images, annotations "
                                "and categories lists)")
        self._anns: list[dict] = data["annotations"]
        self.person_id, self.ball_id = self._categories(data["categories"], person_category, ball_category)
        images = self._images(data["images"])
        self._index(images)
        self.images: list[_Image] = [im for im in images.values() if keep_empty or self._keep(im)]

    # ---- indexing ----------------------------------------------------------------
    def _categories(self, cats: list, person: str, ball: str) -> tuple[Any, Any]:
        ids: dict[str, Any] = {}
        for n, c in enumerate(cats):
            if not isinstance(c, dict) or "id" not in c or not isinstance(c.get("name"), str):
                raise DataError(f"{self.path}: categories[{n}] needs an 'id' and a string 'name'")
            f = self._where.fields(c, f"categories[{n}]")
            ids.setdefault(f.string("name", max_len=256), f.identifier("id"))
        if person not in ids and ball not in ids:
            found = ", ".join(describe(k) for k in sorted(ids)[:10])
            raise DataError(f"{self.path}: no '{person}' or '{ball}' category (found {found})")
        return ids.get(person), ids.get(ball)

    def _images(self, entries: list) -> dict[Any, _Image]:
        out: dict[Any, _Image] = {}
        for n, im in enumerate(entries):
            where = f"{self.path}: images[{n}]"
            if not isinstance(im, dict):
                raise DataError(f"{where}: expected an object")
            for key in ("id", "file_name", "width", "height"):
                if key not in im:
                    raise DataError(f"{where}: missing '{key}'")
            f = self._where.fields(im, f"images[{n}]")
            ident = f.identifier("id")
            name = f.string("file_name", max_len=4096)
            w, h = f.integer("width", 1, MAX_SIDE), f.integer("height", 1, MAX_SIDE)
            if ident in out:
                raise DataError(f"{where}: duplicate image id {describe(ident)}")
            out[ident] = _Image(ident, name, w, h)
        return out

    def _index(self, images: dict[Any, _Image]) -> None:
        for n, a in enumerate(self._anns):
            where = f"{self.path}: {_entry_name(n, a)}"
            if not isinstance(a, dict):
                raise DataError(f"{where}: expected an object")
            f = self._where.fields(a, f"annotations[{n}]")
            f.identifier("id", None)
            if f.identifier("image_id") not in images:
                raise DataError(f"{where}: image_id {describe(a.get('image_id'))} is not in 'images'")
            cat = f.identifier("category_id")
            if cat not in (self.person_id, self.ball_id):
                continue
            if a.get("area") is not None:
                f.number("area", 0.0, 1e12)
            crowd = a.get("iscrowd", 0)
            if not isinstance(crowd, (int, float)) or crowd not in (0, 1):
                raise f.where.fail(f"annotations[{n}].iscrowd", crowd, "0 or 1")
            if not isinstance(a.get("segmentation"), (list, dict)):
                raise DataError(f"{where}: segmentation is {type(a.get('segmentation')).__name__}; expected a "
                                "polygon list or an RLE object")
            bbox = a.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(_coordinate(v) for v in bbox)
                    and bbox[2] >= 0 and bbox[3] >= 0):
                raise DataError(f"{where}: bbox must be [x, y, width, height], finite, with non-negative size, got "
                                f"{printable(str(bbox), 80)}")
            im = images[a["image_id"]]
            if a.get("iscrowd", 0):
                im.crowds.append(n)
                continue
            if cat == self.person_id:
                kp = a.get("keypoints")
                if kp is not None and not (isinstance(kp, list) and len(kp) == 3 * NUM_BODY_PARTS
                                           and all(_coordinate(v) for v in kp)
                                           and all(v in (0, 1, 2) for v in kp[2::3])):
                    raise DataError(f"{where}: keypoints must be {3 * NUM_BODY_PARTS} finite numbers (x, y, v with "
                                    f"v in 0, 1, 2), got {printable(str(kp), 80)}")
                im.persons.append(n)
            else:
                im.balls.append(n)

    def _area(self, n: int) -> float:
        a = self._anns[n]
        area = a.get("area")
        return float(area) if isinstance(area, (int, float)) else float(a["bbox"][2] * a["bbox"][3])

    def _keep(self, im: _Image) -> bool:
        """The paper's filter: people or a ball, and no person over max_person_fraction of the image."""
        if not im.persons and not im.balls:
            return False
        if self.max_person_fraction is None:
            return True
        limit = self.max_person_fraction * im.width * im.height
        return all(self._area(n) <= limit for n in im.persons)

    # ---- items -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Annotation]:
        """Image (BGR uint8) and annotation of kept image `index`."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.path}: index {index} out of range for {len(self)} images")
        im = self.images[index]
        path = self.image_dir / im.file_name
        if not path.is_file():
            raise DataError(f"{path}: image file of {self.path} images id {im.id} is missing")
        image = read_image_file(path)
        if image is None:
            raise DataError(f"{path}: cannot read the image (corrupt or not an image)")
        if image.shape[:2] != (im.height, im.width):
            raise DataError(f"{path}: image is {image.shape[1]}x{image.shape[0]} but {self.path} says "
                            f"{im.width}x{im.height}")
        return image, self.annotation(index)

    def annotation(self, index: int) -> Annotation:
        """The annotation of kept image `index`, without reading the image."""
        im = self.images[index]
        h, w = im.height, im.width
        labels = np.zeros((h, w), np.int32)
        # Larger masks first, so a small player overlapping a large one keeps its pixels.
        order = sorted(im.persons, key=lambda n: -self._area(n))
        kps = np.zeros((len(order), NUM_BODY_PARTS, 3), np.float32)
        for label, n in enumerate(order, start=1):
            a = self._anns[n]
            labels[self._mask(n, h, w)] = label
            if a.get("keypoints") is not None:
                kps[label - 1] = np.asarray(a["keypoints"], np.float32).reshape(NUM_BODY_PARTS, 3)
        ignore = None
        if im.crowds:
            ignore = np.zeros((h, w), bool)
            for n in im.crowds:
                ignore |= self._mask(n, h, w)
        ball = None
        if im.balls:
            x, y, bw, bh = self._anns[max(im.balls, key=self._area)]["bbox"]
            if bw > 0 and bh > 0:
                # Continuous box -> pixel-centre coordinates of its centre; radius from the mean side.
                ball = (float(x + bw / 2 - 0.5), float(y + bh / 2 - 0.5), float((bw + bh) / 4))
        ann = Annotation(labels, kps, ball=ball, ignore=ignore, image_id=str(im.file_name),
                         crowd=None if ignore is None else ignore.copy())
        return ann.validate(f"{self.path}: image id {im.id}")

    def _mask(self, n: int, h: int, w: int) -> np.ndarray:
        try:
            return segmentation_mask(self._anns[n]["segmentation"], h, w)
        except (ValueError, TypeError, OverflowError) as exc:
            raise DataError(f"{self.path}: {_entry_name(n, self._anns[n])}: segmentation is malformed: "
                            f"{printable(str(exc), 120)}") from None
