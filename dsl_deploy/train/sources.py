"""The image sources dsl-train reads (`data.train`, `data.train2`, `data.val`), parsed by `data.sources`."""
from __future__ import annotations

from ..data.mixed import Dataset
from ..data.sources import parse_data_source
from ..spec import ModelSpec


def open_training_data(text: str, spec: ModelSpec, seed: int, option: str = "--data") -> Dataset:
    """The dataset a data source string names (synthetic scenes at the network size); errors name `option`."""
    source = parse_data_source(text, option)
    if source.kind == "synthetic":
        from ..data.synthetic import SyntheticScenes
        # Scenes at the network size: validation needs no resize and augmentation crops what it scales.
        return SyntheticScenes(seed, spec.input.width, spec.input.height, length=source.count)
    if source.kind == "coco":
        from ..data.coco import CocoDataset
        return CocoDataset(source.path)  # type: ignore[arg-type]  # a path for every kind but synthetic
    from ..data.deepsport import DeepSportDataset
    return DeepSportDataset(source.path)  # type: ignore[arg-type]
