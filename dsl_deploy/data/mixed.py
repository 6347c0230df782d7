"""The torch-free Dataset protocol and the equal-share mixing of sources (Sec. 4: every batch holds as many
DeepSport as COCO images; each epoch sees all of the smallest source and a new slice of the larger ones).
"""
from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import DataError
from .annotations import Annotation


@runtime_checkable
class Dataset(Protocol):
    """What every dataset here provides: a length and `dataset[i] -> (image_bgr uint8 [H,W,3], Annotation)`."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[np.ndarray, Annotation]: ...


class MixedDataset:
    """Several datasets behind one flat index (source s, item i -> offsets[s] + i)."""

    def __init__(self, *sources: Dataset):
        if not sources:
            raise DataError("MixedDataset: give at least one source dataset")
        for s, d in enumerate(sources):
            if not isinstance(d, Dataset):
                raise DataError(f"MixedDataset: source {s} ({type(d).__name__}) has no __len__/__getitem__")
            if len(d) == 0:
                raise DataError(f"MixedDataset: source {s} ({type(d).__name__}) is empty")
        self.sources = list(sources)
        self.offsets = list(np.cumsum([0] + [len(d) for d in sources[:-1]]).tolist())
        self.sizes = [len(d) for d in sources]

    def __len__(self) -> int:
        return sum(self.sizes)

    def locate(self, index: int) -> tuple[int, int]:
        """Flat index -> (source, index within the source)."""
        if not 0 <= index < len(self):
            raise IndexError(f"MixedDataset index {index} out of range 0..{len(self) - 1}")
        s = bisect.bisect_right(self.offsets, index) - 1
        return s, index - self.offsets[s]

    def __getitem__(self, index: int) -> tuple[np.ndarray, Annotation]:
        s, i = self.locate(int(index))
        return self.sources[s][i]


class EqualShareBatches:
    """Batches of flat MixedDataset indices with batch_size / n_sources items from each source.

    An epoch lasts until the smallest source has been seen once; larger sources are walked through an
    endless chain of seeded permutations, so successive epochs see different slices of them. Order is a
    pure function of (seed, epoch): usable as a torch DataLoader `batch_sampler` (call set_epoch).
    """

    def __init__(self, mixed: MixedDataset, batch_size: int, *, seed: int = 0, drop_last: bool = True):
        n = len(mixed.sizes)
        if batch_size < n or batch_size % n:
            raise DataError(f"EqualShareBatches: batch_size {batch_size} must be a positive multiple of the "
                            f"number of sources ({n}) so every batch holds an equal share")
        self.mixed, self.batch_size, self.seed, self.drop_last = mixed, batch_size, int(seed), drop_last
        self.share = batch_size // n
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches __iter__ yields next."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        m = min(self.mixed.sizes)
        return m // self.share if self.drop_last else -(-m // self.share)

    def _stream(self, source: int, start: int, count: int) -> np.ndarray:
        """Positions [start, start + count) of source's endless chain of permutations."""
        size = self.mixed.sizes[source]
        out = np.empty(count, np.int64)
        pos = 0
        while pos < count:
            cycle, k = divmod(start + pos, size)
            perm = np.random.default_rng((self.seed, source, cycle)).permutation(size)
            take = min(size - k, count - pos)
            out[pos:pos + take] = perm[k:k + take]
            pos += take
        return out + self.mixed.offsets[source]

    def __iter__(self) -> Iterator[list[int]]:
        batches = len(self)
        per_epoch = batches * self.share
        cols = [self._stream(s, self.epoch * per_epoch, per_epoch) for s in range(len(self.mixed.sizes))]
        for b in range(batches):
            batch = np.concatenate([c[b * self.share:(b + 1) * self.share] for c in cols])
            yield batch.tolist()


def equal_share(sources: Sequence[Dataset], batch_size: int, *, seed: int = 0) -> tuple[MixedDataset,
                                                                                        EqualShareBatches]:
    """The mixed dataset and its equal-share batch sampler for `sources`."""
    mixed = MixedDataset(*sources)
    return mixed, EqualShareBatches(mixed, batch_size, seed=seed)
