"""The authors' checkpoints: names and shapes one to one, read without their code, parity by hand, refusals."""
from __future__ import annotations

import os
import sys

import pytest

torch = pytest.importorskip("torch")

from dsl_testing.authors_net import authors_network, authors_modules, save_authors_checkpoint  # noqa: E402

from dsl_deploy.errors import ArtifactError  # noqa: E402
from dsl_deploy.export import ready_fields  # noqa: E402
from dsl_deploy.model import DeepSportLabNet, build_model  # noqa: E402
from dsl_deploy.model.checkpoint import load_any_checkpoint  # noqa: E402
from dsl_deploy.spec import default_spec  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def theirs():
    """The authors' network (stand-in), resnet18, lively random weights, eval mode."""
    return authors_network("resnet18", seed=2)


@pytest.fixture(scope="module")
def pickled(theirs, tmp_path_factory):
    path = tmp_path_factory.mktemp("authors") / "resnet18-cifcent-pan-ball-edge129.pkl"
    save_authors_checkpoint(path, theirs, epoch=7, square_edge=129)
    return path


def test_state_dict_names_and_shapes_are_the_authors():
    """resnet50 (the paper's model): every name and shape of theirs is ours, in the same order."""
    ours = build_model(default_spec("resnet50", 641)).state_dict()
    reference = authors_network("resnet50").state_dict()
    assert list(ours) == list(reference)
    assert all(ours[k].shape == reference[k].shape for k in ours)
    params = sum(v.numel() for k, v in reference.items() if "running_" not in k and "num_batches" not in k)
    assert params == 32_280_353  # 32.28 M, as measured from their code in issue 16


def test_whole_model_pickle_is_read_without_their_code(theirs, pickled):
    assert not any(name.startswith("openpifpaf") for name in sys.modules)
    ckpt = load_any_checkpoint(pickled)
    assert type(ckpt.model) is DeepSportLabNet and not ckpt.model.training
    assert (ckpt.spec.architecture, ckpt.spec.backbone, ckpt.spec.input.width) == ("deepsportlab", "resnet18", 129)
    assert ckpt.train["epoch"] == 7 and ckpt.train["headnets"] == "cifcent pan ball" and ckpt.version == 0
    reference = theirs.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in ckpt.model.state_dict().items())
    assert load_any_checkpoint(pickled, size=97).spec.input.width == 97  # --size when the file has no edge


def _by_hand(net, image):
    """Ready fields from the stand-in's raw head outputs, as their collector and decoder compute them."""
    with torch.no_grad():
        features = net.base_net(image)
        conf, reg, logb, scale = net.head_nets[0](features["res5"])
        ball = net.head_nets[2](features["res5"])
        pan = net.head_nets[1](features)
    stride = 8
    out = {}
    for name, (c, r, b, s) in (("cif", (conf, reg, logb, scale)), ("ball", ball)):
        hp, wp = c.shape[-2:]
        rows, cols = torch.meshgrid(torch.arange(hp, dtype=torch.float32), torch.arange(wp, dtype=torch.float32),
                                    indexing="ij")
        r = r[:, :, 0].clone()
        r[:, :, 0] += cols  # their collector adds the cell index in place ...
        r[:, :, 1] += rows
        out[name] = torch.stack([c[:, :, 0], r[:, :, 0] * stride, r[:, :, 1] * stride,  # ... the decoder: x * stride
                                 stride * torch.exp(b[:, :, 0]), 0.5 * s[:, :, 0] * stride], dim=2)
    probs = torch.softmax(pan["semantic"], dim=1)
    player = probs[:, 1:2] / (probs[:, 1:2] + torch.maximum(probs[:, :1], probs[:, 2:]))
    pif = torch.cat([out["cif"][:, :17], out["ball"], out["cif"][:, 17:]], dim=1)
    return {"player": player, "offset": pan["offset"][:, [1, 0]], "pif": pif, "classes": pan["semantic"]}


def test_ready_fields_match_the_authors_heads_by_hand(theirs, pickled):
    ckpt = load_any_checkpoint(pickled)
    image = torch.randn(2, 3, 129, 129)
    expected = _by_hand(theirs, image)
    with torch.no_grad():
        got = ready_fields(ckpt.model(image))
    pif, ref = got["pif"], expected["pif"]
    assert pif.shape == ref.shape == (2, 19, 5, 17, 17)
    # x, y and sigma bit for bit (the decoder floors sigma at 1 px itself); confidence within one float32 ulp.
    assert torch.equal(pif[:, :, 1:3], ref[:, :, 1:3]) and torch.equal(pif[:, :, 4], ref[:, :, 4])
    assert torch.allclose(pif[:, :, 0], ref[:, :, 0], rtol=0, atol=2.5e-7)
    assert torch.allclose(pif[:, :, 3], ref[:, :, 3], rtol=1e-6)
    assert torch.equal(got["offset"], expected["offset"])
    assert torch.allclose(got["player"], expected["player"], rtol=0, atol=1e-6)
    # A pixel is a player exactly where their argmax is the player class (away from float ties).
    top2 = expected["classes"].topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-5
    is_player = expected["classes"].argmax(dim=1) == 1
    assert torch.equal((got["player"][:, 0] > 0.5)[clear], is_player[clear])
    assert 0.05 < float(is_player.float().mean()) < 0.95 and float(ref[:, :, 0].std()) > 0.05


@pytest.mark.parametrize("form", ["state_dict", "model_state_dict"])
def test_plain_state_dicts(theirs, tmp_path, form):
    path = tmp_path / "weights.pth"
    state = theirs.state_dict()
    torch.save(state if form == "state_dict" else {"model_state_dict": state, "epoch": 3}, path)
    ckpt = load_any_checkpoint(path, size=129)
    assert ckpt.spec.architecture == "deepsportlab" and ckpt.spec.input.width == 129
    assert all(torch.equal(v, state[k]) for k, v in ckpt.model.state_dict().items())
    assert ckpt.train.get("epoch") == (3 if form == "model_state_dict" else None)
    assert load_any_checkpoint(path).spec.input.width == 641  # no edge recorded: the paper's 641


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evaluates:
    def __reduce__(self):
        return eval, ("1 + 1",)


@pytest.mark.parametrize("payload,name", [("system", os.system.__module__ + ".system"),
                                          ("eval", "builtins.eval"),
                                          ("unknown", "openpifpaf.network.nets.Evil")])
def test_malicious_pickles_are_refused(tmp_path, payload, name):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    if payload == "unknown":
        class Evil(torch.nn.Module):
            pass
        Evil.__module__, Evil.__qualname__ = "openpifpaf.network.nets", "Evil"
        with authors_modules():
            sys.modules["openpifpaf.network.nets"].Evil = Evil
            torch.save({"model": Evil(), "epoch": 1}, path)
    else:
        evil = _RunsACommand(marker) if payload == "system" else _Evaluates()
        torch.save({"model": evil, "epoch": 1, "meta": {}}, path)
    with pytest.raises(ArtifactError) as info:
        load_any_checkpoint(path)
    message = str(info.value)
    assert f"refused: the file names {name}" in message and "nothing from the file was run" in message
    assert "\n" not in message and not marker.exists()


def test_other_head_configurations_are_refused(tmp_path):
    path = tmp_path / "cif-pan.pkl"
    save_authors_checkpoint(path, authors_network("resnet18", heads=("cif", "pan"), semantic_classes=2))
    with pytest.raises(ArtifactError, match=r"has heads cif \+ pan; dsl_deploy deploys the paper's configuration"):
        load_any_checkpoint(path)
    state = authors_network("resnet18", heads=("cifcent", "pan", "ball"), semantic_classes=2).state_dict()
    torch.save(state, path)
    with pytest.raises(ArtifactError, match=r"head_nets.1 \(pan semantic\): 2 outputs, expected 3"):
        load_any_checkpoint(path)


@pytest.mark.parametrize("kind", ["random", "linear", "list"])
def test_files_of_neither_kind_get_one_line(tmp_path, kind):
    path = tmp_path / "x.pkl"
    if kind == "random":
        path.write_bytes(bytes(range(256)) * 8)
    else:
        torch.save(torch.nn.Linear(2, 2).state_dict() if kind == "linear" else [1, 2], path)
    with pytest.raises(ArtifactError) as info:
        load_any_checkpoint(path)
    message = str(info.value)
    assert "not a dsl_deploy checkpoint" in message and "nor is it the authors'" in message and "\n" not in message
