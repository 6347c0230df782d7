"""Data adapter: epoch plans, normalisation identical to the runtime, targets, loaders, sources."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.data.synthetic import SyntheticScenes  # noqa: E402
from dsl_deploy.errors import DataError, InputError  # noqa: E402
from dsl_deploy.preprocess import Preprocessor  # noqa: E402
from dsl_deploy.spec import NUM_BODY_PARTS, default_spec  # noqa: E402
from dsl_deploy.train.dataset import (  # noqa: E402
    SampleEncoder, TrainingSet, encode_for_training, epoch_plan, make_loader, validation_samples,
)
from dsl_deploy.train.sources import open_training_data  # noqa: E402

pytestmark = pytest.mark.torch
SPEC = default_spec("resnet18", 65)


def test_epoch_plan_equal_share_and_determinism():
    plan = epoch_plan([5, 3], batch_size=4, steps=6, seed=1, epoch=2)
    assert plan.shape == (24, 3)
    batches = plan.reshape(6, 4, 3)
    assert (batches[:, :2, 0] == 0).all() and (batches[:, 2:, 0] == 1).all()
    # Each source is walked through whole permutations before repeating.
    assert sorted(batches[:, 2:, 1].ravel()[:3].tolist()) == [0, 1, 2]
    assert np.array_equal(plan, epoch_plan([5, 3], 4, 6, 1, 2))
    assert not np.array_equal(plan, epoch_plan([5, 3], 4, 6, 1, 3))
    with pytest.raises(DataError, match="empty"):
        epoch_plan([0], 4, 1, 0, 0)


def test_validation_sample_is_normalised_like_the_runtime():
    scenes = SyntheticScenes(3, 80, 60, length=2)
    image, ann = scenes[0]
    x, targets, ann_in = SampleEncoder(SPEC)(image, ann, None)
    expected, _ = Preprocessor(SPEC)(image)
    np.testing.assert_allclose(x, expected[0], atol=1e-6)
    assert (ann_in.width, ann_in.height) == (65, 65)
    assert targets["pif_conf"].shape == (19, 9, 9) and targets["semantic"].shape == (1, 65, 65)


def test_deepsport_poses_do_not_train_body_parts():
    _, ann = SyntheticScenes(0, 65, 65, length=1)[0]
    assert ann.num_players > 0
    from dataclasses import replace
    ds = replace(ann, keypoints=np.zeros((ann.num_players, 4, 3), np.float32), pose_format="deepsport")
    t = encode_for_training(ds, SPEC, "eq2")
    assert (t["pif_mask"][:NUM_BODY_PARTS] == 0).all()
    assert (t["pif_mask"][NUM_BODY_PARTS:] == 1).all() and t["pif_conf"][18].sum() > 0
    # The authors' rules (the default) train only the centre's positive cells on such an image; the ball all.
    t = encode_for_training(ds, SPEC)
    assert (t["pif_mask"][:NUM_BODY_PARTS] == 0).all() and (t["pif_mask"][17] == 1).all()
    np.testing.assert_array_equal(t["pif_mask"][18], t["pif_conf"][18])


def test_training_set_items_and_loader():
    scenes = SyntheticScenes(0, 65, 65, length=4)
    plan = epoch_plan([len(scenes)], batch_size=2, steps=2, seed=0, epoch=0)
    data = TrainingSet([scenes], SPEC, plan, augment_images=True)
    first = data[0]
    again = data[0]
    assert torch.equal(first["image"], again["image"])  # augmentation is a function of the plan
    assert first["image"].shape == (3, 65, 65) and first["pif_reg"].shape == (19, 2, 9, 9)
    batches = list(make_loader(data, 2, workers=1, seed=0))
    assert len(batches) == 2 and batches[0]["image"].shape == (2, 3, 65, 65)
    assert torch.equal(batches[0]["image"][0], first["image"])
    assert len(validation_samples(scenes, SPEC)) == 4


def test_open_training_data_errors(tmp_path):
    with pytest.raises(InputError, match="--data: 'imagenet:x' is not a data source"):
        open_training_data("imagenet:x", SPEC, 0)
    with pytest.raises(InputError, match="positive number"):
        open_training_data("synthetic:0", SPEC, 0)
    with pytest.raises(DataError, match="does not exist"):
        open_training_data(f"coco:{tmp_path / 'missing.json'}", SPEC, 0)
    assert len(open_training_data("synthetic:3", SPEC, 0)) == 3
