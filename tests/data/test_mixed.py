"""Equal-share batches of two sources (Sec. 4) and the Dataset protocol."""
from __future__ import annotations

import numpy as np
import pytest

from dsl_deploy.data.mixed import Dataset, EqualShareBatches, MixedDataset, equal_share
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.errors import DataError


class _Ids:
    """A stand-in dataset whose items are their own index (as a one-pixel image)."""

    def __init__(self, n, tag):
        self.n, self.tag = n, tag

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((1, 1, 3), self.tag, np.uint8), i


def test_every_batch_has_an_equal_share():
    mixed, batches = equal_share([_Ids(10, 1), _Ids(37, 2)], 4, seed=3)
    assert len(mixed) == 47 and len(batches) == 5
    seen_small, seen_large = [], []
    for batch in batches:
        srcs = [mixed.locate(i)[0] for i in batch]
        assert srcs == [0, 0, 1, 1]
        seen_small += [mixed.locate(i)[1] for i in batch[:2]]
        seen_large += [mixed.locate(i)[1] for i in batch[2:]]
    assert sorted(seen_small) == list(range(10))  # the small source once per epoch
    assert len(set(seen_large)) == 10
    # The next epoch sees another slice of the large source; the same epoch is reproducible.
    batches.set_epoch(1)
    nxt = [i for b in batches for i in b[2:]]
    assert not set(nxt) & {mixed.offsets[1] + i for i in seen_large}
    batches.set_epoch(0)
    again = [i for b in batches for i in b[2:]]
    assert [mixed.locate(i)[1] for i in again] == seen_large
    img, item = mixed[batch[3]]
    assert img[0, 0, 0] == 2 and item == mixed.locate(batch[3])[1]


def test_protocol_and_errors():
    assert isinstance(SyntheticScenes(length=3), Dataset)
    assert isinstance(_Ids(2, 0), Dataset) and not isinstance(3, Dataset)
    with pytest.raises(DataError, match="multiple of the number of sources"):
        EqualShareBatches(MixedDataset(_Ids(3, 0), _Ids(3, 1)), 3)
    with pytest.raises(DataError, match="source 1 .* is empty"):
        MixedDataset(_Ids(3, 0), _Ids(0, 1))
    with pytest.raises(DataError, match="no __len__"):
        MixedDataset(_Ids(3, 0), 5)
    with pytest.raises(IndexError):
        MixedDataset(_Ids(3, 0)).locate(3)
