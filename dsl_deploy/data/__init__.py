"""Ground truth and training data (NumPy and OpenCV only, never torch).

annotations: `Annotation`, the one ground-truth type. encode: `encode_targets`, `ideal_fields`.
synthetic: `SyntheticScenes`. coco: `CocoDataset`. deepsport: `DeepSportDataset`. augment: `random_augment`,
`hflip`, `warp`, `resize_to_input`. mixed: the `Dataset` protocol, `MixedDataset`, `EqualShareBatches`.
Modules are imported on use, so importing one loader does not pull in the others.
"""
