"""Checkpoints: round trip, atomic write, and one clear ArtifactError/SpecError for every bad file."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dsl_deploy.errors import ArtifactError, SpecError  # noqa: E402
from dsl_deploy.model import load_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from dsl_deploy.model.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_model, small_spec):
    path = tmp_path_factory.mktemp("ckpt") / "model.pth"
    save_checkpoint(path, small_model, small_spec, {"epoch": 3, "seed": 7, "metrics": {"loss": 1.5}})
    return path


def test_round_trip(saved, small_model, small_spec):
    ckpt = load_checkpoint(saved)
    assert ckpt.spec == small_spec and ckpt.version == CHECKPOINT_FORMAT_VERSION
    assert ckpt.train == {"epoch": 3, "seed": 7, "metrics": {"loss": 1.5}}
    assert not ckpt.model.training
    x = torch.randn(1, 3, 129, 129)
    with torch.no_grad():
        a, b = small_model(x), ckpt.model(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
    raw = read_checkpoint(saved)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["spec"] == small_spec.to_dict()
    assert not list(saved.parent.glob("*.tmp"))


def _rewrite(saved, tmp_path, **changes):
    data = torch.load(saved, weights_only=True)
    data.update(changes)
    out = tmp_path / "changed.pth"
    torch.save(data, out)
    return out, data


def test_newer_format_version_refused(saved, tmp_path):
    path, _ = _rewrite(saved, tmp_path, format_version=CHECKPOINT_FORMAT_VERSION + 1)
    with pytest.raises(ArtifactError, match="newer"):
        load_checkpoint(path)


def test_bad_spec_refused(saved, tmp_path):
    data = torch.load(saved, weights_only=True)
    path, _ = _rewrite(saved, tmp_path, spec={**data["spec"], "spec_version": 99})
    with pytest.raises(SpecError, match="newer"):
        load_checkpoint(path)


def test_state_dict_not_matching_spec_names_keys(saved, tmp_path):
    data = torch.load(saved, weights_only=True)
    spec = dict(data["spec"], backbone="resnet50")
    path, _ = _rewrite(saved, tmp_path, spec=spec)
    expected = (r"do not match the spec.s network \(deepsportlab resnet50\): 198 missing key\(s\) "
                r"\(base_net\.net\.1.*shape-mismatched key\(s\) \(base_net\.")
    with pytest.raises(ArtifactError, match=expected):
        load_checkpoint(path)
    sd = dict(data["state_dict"])
    sd.pop("head_nets.1.decoder.aspp.project.0.weight")
    sd["extra.weight"] = torch.zeros(1)
    path, _ = _rewrite(saved, tmp_path, state_dict=sd)
    with pytest.raises(ArtifactError, match=r"1 missing key\(s\) \(head_nets.1.decoder.aspp.project.0.weight\)"
                                            r".*1 unexpected"):
        load_checkpoint(path)


@pytest.mark.parametrize("kind", ["random", "state_dict", "object", "truncated", "missing"])
def test_not_a_checkpoint(kind, tmp_path, saved):
    path = tmp_path / "x.pth"
    if kind == "random":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "state_dict":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif kind == "object":
        torch.save({"format": CHECKPOINT_FORMAT, "x": ValueError("a pickled object")}, path)
    elif kind == "truncated":
        path.write_bytes(saved.read_bytes()[:100_000])
    with pytest.raises(ArtifactError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_save_into_missing_folder(tmp_path, small_model, small_spec):
    with pytest.raises(ArtifactError, match="does not exist"):
        save_checkpoint(tmp_path / "nope" / "m.pth", small_model, small_spec)


def test_train_info_is_stored_as_plain_types(tmp_path, small_model, small_spec):
    import numpy as np
    path = tmp_path / "m.pth"
    train = {"loss": np.float32(0.5), "history": [np.int64(3), (1, 2.0)], "hist": np.arange(3), "note": None}
    save_checkpoint(path, small_model, small_spec, train)
    got = load_checkpoint(path).train
    assert got["loss"] == 0.5 and type(got["loss"]) is float and got["history"] == [3, (1, 2.0)]
    assert torch.equal(got["hist"], torch.arange(3)) and got["note"] is None
    with pytest.raises(ArtifactError, match=r"train\['bad'\]: a object cannot be stored"):
        save_checkpoint(tmp_path / "bad.pth", small_model, small_spec, {"bad": object()})
    assert not (tmp_path / "bad.pth").exists()


def test_version_1_checkpoints_are_the_light_network(tmp_path):
    """spec_version 1 had no architecture field: every such artifact was made with today's light network."""
    from dsl_deploy.model import build_model
    from dsl_deploy.spec import default_spec

    spec = default_spec("resnet18", 65, "light")
    path = tmp_path / "v1.pth"
    torch.manual_seed(0)
    save_checkpoint(path, build_model(spec), spec)
    data = torch.load(path, weights_only=True)
    old = {k: v for k, v in data["spec"].items() if k != "architecture"}
    old["spec_version"] = 1
    torch.save(dict(data, spec=old), path)
    with pytest.warns(UserWarning, match="version 1"):
        ckpt = load_checkpoint(path)
    assert ckpt.spec.architecture == "light" and type(ckpt.model).__name__ == "LightNet"
