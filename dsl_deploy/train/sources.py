"""Data source strings of dsl-train (`synthetic:N`, `coco:PATH`, `deepsport:PATH`) -> image sources."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import DataError, InputError
from ..spec import ModelSpec

KINDS = ("synthetic", "coco", "deepsport")


def parse_source(text: str, option: str = "--data") -> tuple[str, str]:
    """('synthetic', 'N') | ('coco', PATH) | ('deepsport', PATH); InputError naming the option otherwise."""
    kind, sep, arg = text.partition(":")
    if not sep or kind not in KINDS or not arg:
        raise InputError(f"{option}: {text!r} is not a data source; expected synthetic:N, coco:PATH or "
                         "deepsport:PATH")
    if kind == "synthetic":
        try:
            n = int(arg)
        except ValueError:
            n = 0
        if n < 1:
            raise InputError(f"{option}: {text!r}: synthetic:N needs a positive number of scenes")
    return kind, arg


def open_source(text: str, spec: ModelSpec, seed: int, option: str = "--data") -> Sequence:
    """The image source a data string names; a missing path is a DataError naming it."""
    kind, arg = parse_source(text, option)
    if kind == "synthetic":
        from ..data.synthetic import SyntheticScenes
        # Scenes at the network size: validation needs no resize and augmentation crops what it scales.
        return SyntheticScenes(seed, spec.input.width, spec.input.height, length=int(arg))
    path = Path(arg)
    if not path.exists():
        raise DataError(f"{option}: {kind} data path {path} does not exist")
    if kind == "coco":
        from ..data.coco import CocoDataset
        if path.is_dir():
            raise DataError(f"{option}: coco:PATH must name the COCO annotation JSON file, {path} is a folder")
        return CocoDataset(path)
    from ..data.deepsport import DeepSportDataset
    return DeepSportDataset(path)
