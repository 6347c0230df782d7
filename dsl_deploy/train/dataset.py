"""Torch data adapter: (image_bgr, Annotation) sources -> normalised image tensors and encoded targets.

Training samples are augmented (random flip, scale, rotation, crop to the spec size: data.augment);
validation samples are letterboxed to the spec size. Images are normalised by the runtime's own
`Preprocessor`, so training and deployment see the same numbers. Which sample, and which random
augmentation, a step gets depends only on (seed, epoch, position): a resumed run replays the same
batches without having to save any sampler state.
"""
from __future__ import annotations

import signal
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.annotations import Annotation
from ..data.encode_authors import encode_with_rules
from ..data.mixed import Dataset as ImageSource
from ..errors import DataError
from ..preprocess import Preprocessor
from ..spec import CENTER, NUM_BODY_PARTS, ModelSpec

Source = ImageSource  # len() and [i] -> (image_bgr, Annotation)


def epoch_plan(sizes: Sequence[int], batch_size: int, steps: int, seed: int, epoch: int) -> np.ndarray:
    """[steps * batch_size, 3] rows (source, index, augmentation seed) for one epoch.

    With two sources each batch takes half of its images from each (the paper's equal share, Sec. 4);
    every source is walked in a fresh permutation per epoch, repeated when the epoch needs more.
    """
    if any(n < 1 for n in sizes):
        raise DataError(f"training data: a source is empty (sizes {list(sizes)})")
    share = batch_size // len(sizes)
    rng = np.random.default_rng([seed, epoch, 7])
    columns = []
    for s, n in enumerate(sizes):
        need = steps * share
        order = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])[:need]
        columns.append(np.stack([np.full(need, s), order], 1).reshape(steps, share, 2))
    rows = np.concatenate(columns, axis=1).reshape(steps * batch_size, 2)
    aug_seeds = rng.integers(0, 2**31 - 1, size=(len(rows), 1))
    return np.concatenate([rows, aug_seeds], 1).astype(np.int64)


class SampleEncoder:
    """(image_bgr, Annotation) at any size -> (normalised [3,H,W] float32, targets, annotation at input size)."""

    def __init__(self, spec: ModelSpec, rules: str = "authors"):
        self.spec = spec
        self.rules = rules
        self._pre = Preprocessor(spec)

    def __call__(self, image: np.ndarray, ann: Annotation, rng: np.random.Generator | None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], Annotation]:
        """Augment with `rng` (training) or letterbox when `rng` is None (validation), then encode.

        The annotation returned is the one at the input size, with its own pose format (for metrics).
        """
        from ..data import augment

        h, w = self.spec.input.height, self.spec.input.width
        if rng is not None:
            image, ann = augment.random_augment(image, ann, self.spec, rng)
        elif (ann.height, ann.width) != (h, w):
            image, ann = augment.resize_to_input(image, ann, self.spec)
        # The frame is already at the input size: the letterbox is the identity, only normalisation acts.
        batch, _ = self._pre(image)
        return batch[0].copy(), encode_for_training(ann, self.spec, self.rules), ann


def encode_for_training(ann: Annotation, spec: ModelSpec, rules: str = "authors") -> dict[str, np.ndarray]:
    """Targets by the named rules (loss.targets), also for poses that are not COCO's 17 parts (DeepSport's 4).

    As in the paper, such poses do not train the body parts: they are left out and the body-part
    confidence is ignored on that image (masked), so it is not taught that players have no parts. By the
    authors' rules the centre's negative cells are ignored there too, only its positive cells train (their
    DeepSport annotations carry `put_nan`, which starts every field of the body-part and centre head undefined).
    """
    if ann.pose_format == "coco":
        return encode_with_rules(ann, spec, rules)
    bare = replace(ann, keypoints=np.zeros((ann.num_players, NUM_BODY_PARTS, 3), np.float32), pose_format="coco")
    targets = encode_with_rules(bare, spec, rules)
    targets["pif_mask"][:NUM_BODY_PARTS] = 0.0
    if rules == "authors":
        targets["pif_mask"][CENTER] = targets["pif_conf"][CENTER]
    return targets


class TrainingSet(Dataset):
    """The samples of an epoch plan, augmented and encoded; items are dicts of tensors (image + targets)."""

    def __init__(self, sources: Sequence[Source], spec: ModelSpec, plan: np.ndarray, augment_images: bool = True,
                 rules: str = "authors"):
        self.sources = list(sources)
        self.plan = plan
        self.augment = augment_images
        self.encoder = SampleEncoder(spec, rules)

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s, index, aug_seed = (int(v) for v in self.plan[i])
        image, ann = self.sources[s][index]
        rng = np.random.default_rng(aug_seed) if self.augment else None
        x, targets, _ = self.encoder(image, ann, rng)
        item = {"image": torch.from_numpy(x)}
        item.update({k: torch.from_numpy(v) for k, v in targets.items()})
        return item


def _quiet_worker(_worker_id: int) -> None:
    """Workers leave Ctrl-C to the main process, which saves a checkpoint and stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(dataset: Dataset, batch_size: int, workers: int, seed: int) -> DataLoader:
    """In-order DataLoader (the plan is already shuffled) with 0..N seeded, Ctrl-C-immune workers."""
    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs.update(worker_init_fn=_quiet_worker, persistent_workers=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=workers,
                      generator=torch.Generator().manual_seed(seed), **kwargs)


def validation_samples(source: Source, spec: ModelSpec, rules: str = "authors"
                       ) -> list[tuple[np.ndarray, dict[str, np.ndarray], Annotation]]:
    """Every image of `source` letterboxed, normalised and encoded by `rules` (kept in memory: sets are small)."""
    encoder = SampleEncoder(spec, rules)
    return [encoder(image, ann, None) for image, ann in (source[i] for i in range(len(source)))]
