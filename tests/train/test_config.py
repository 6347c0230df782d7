"""Training configuration: defaults, TOML files, --set overrides, flags, and the errors for bad input."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from dsl_deploy.errors import InputError  # noqa: E402
from dsl_deploy.train.command import resolve_config  # noqa: E402
from dsl_deploy.train.config import TrainConfig, from_dict, load_config  # noqa: E402

pytestmark = pytest.mark.torch


def test_defaults_are_the_papers():
    c = TrainConfig()
    assert (c.optim.lr, c.optim.momentum, c.optim.weight_decay, c.optim.batch_size) == (3e-4, 0.95, 1e-5, 4)
    assert (c.model.architecture, c.model.backbone, c.model.size) == ("deepsportlab", "resnet50", 641)
    assert c.loss.weights() == {"sem": 10.0, "off": 0.1, "cnf": 20.0, "loc": 10.0, "sig": 10.0}


def test_file_then_set_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[optim]\nlr = 0.01\nbatch_size = 2\n[run]\nepochs = 3\n[data]\naugment = false\n')
    c = load_config(path, ["optim.lr=0.02", "data.augment=true", "loss.loc_form=laplace"])
    assert (c.optim.lr, c.optim.batch_size, c.run.epochs, c.data.augment) == (0.02, 2, 3, True)
    assert c.loss.loc_form == "laplace"
    flagged = resolve_config({"config": str(path), "overrides": ["run.epochs=5"], "epochs": 7, "lr": 0.5,
                              "val_data": "none"})
    assert (flagged.run.epochs, flagged.optim.lr, flagged.data.val) == (7, 0.5, "")


def test_toml_round_trip(tmp_path):
    c = load_config(None, ["model.size=97", "data.train=coco:/x.json", "loss.pif_divisor=1"])
    path = tmp_path / "used.toml"
    path.write_text(c.to_toml())
    assert load_config(path) == c
    assert from_dict(c.to_dict()) == c


@pytest.mark.parametrize("text, message", [
    ("[optim]\nlrr = 1.0\n", "unknown key 'optim.lrr'"),
    ("[optim]\nlr = 'fast'\n", "'optim.lr' expected float, got 'fast'"),
    ("[run]\nepochs = 1.5\n", "'run.epochs' expected int"),
    ("[modle]\nsize = 97\n", "unknown section [modle]"),
    ("[model]\nbackbone = 'vgg'\n", "model.backbone"),
    ("[optim]\nlr = -1.0\n", "lr must be positive"),
    ("[optim\n", "not valid TOML"),
])
def test_malformed_file_names_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=None) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_bad_overrides():
    with pytest.raises(InputError, match="expected section.key=value"):
        load_config(None, ["optim.lr"])
    with pytest.raises(InputError, match="'data.augment' expected bool"):
        load_config(None, ["data.augment=maybe"])
    with pytest.raises(InputError, match="even batch"):
        load_config(None, ["data.train2=synthetic:4", "optim.batch_size=3"])
    with pytest.raises(InputError, match="no such file"):
        load_config("/nonexistent/config.toml")


def test_threads_and_type_weights_are_options():
    c = load_config(None, ["run.threads=1", "loss.w_ball=8"])
    assert (c.run.threads, c.loss.w_ball, c.loss.w_center) == (1, 8.0, 1.0)
    assert resolve_config({"threads": 2}).run.threads == 2
    assert (TrainConfig().run.threads, TrainConfig().loss.w_ball) == (0, 1.0)
    with pytest.raises(InputError, match="run.threads"):
        load_config(None, ["run.threads=-1"])


def test_documented_small_run_config_loads_and_fits_the_strides():
    from pathlib import Path

    from dsl_deploy.spec import default_spec

    path = Path(__file__).resolve().parents[2] / "configs" / "synthetic-small.toml"
    c = load_config(path)
    assert c.model.backbone == "resnet18" and c.run.device == "cpu"
    assert default_spec(c.model.backbone, c.model.size).fits_strides()
    # Only the ball and centre factors depart from the paper's loss; Eq. 1 weights and the divisor are kept.
    assert c.loss.weights() == TrainConfig().loss.weights() and c.loss.pif_divisor == 1000.0


def test_architecture_is_a_flag_and_is_checked():
    assert resolve_config({"architecture": "light"}).model.architecture == "light"
    with pytest.raises(InputError, match="model.architecture.*'heavy'; expected one of deepsportlab, light"):
        load_config(None, ["model.architecture=heavy"])
