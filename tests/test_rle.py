"""dsl_deploy.rle: a mask survives encode -> compact string -> decode, in both count forms."""
from __future__ import annotations

import numpy as np

from dsl_deploy.rle import compressed_rle, decode_rle_string, mask_to_rle, rle_counts_to_string, rle_mask


def test_masks_round_trip_through_both_count_forms() -> None:
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (7, 5), (40, 33)):
        mask = rng.random(shape) < 0.3
        mask[0, 0] = True  # a mask that starts with ones begins with a zero run
        plain = mask_to_rle(mask)
        assert plain["counts"][0] == 0
        packed = compressed_rle(mask)
        assert packed["counts"] == rle_counts_to_string(plain["counts"])
        assert decode_rle_string(packed["counts"]) == plain["counts"]
        for rle in (plain, packed):
            np.testing.assert_array_equal(rle_mask(rle, *shape), mask)
