"""Fixtures for the export tests: resnet18 networks (deepsportlab, light) at 129x129 with varied outputs."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def lively_authors():
    """The default (deepsportlab) network, resnet18 @129, with the weights of the authors' stand-in (lively)."""
    pytest.importorskip("torch")
    from dsl_testing.authors_net import authors_network

    from dsl_deploy.model import build_model
    from dsl_deploy.spec import default_spec

    model = build_model(default_spec("resnet18", 129))
    model.load_state_dict(authors_network("resnet18", seed=1).state_dict())
    return model.eval()


@pytest.fixture(scope="module")
def lively_model():
    """Seeded light resnet18 @129 with head weights scaled up, so parity compares fields that actually vary."""
    torch = pytest.importorskip("torch")
    from dsl_deploy.model import build_model
    from dsl_deploy.spec import default_spec

    torch.manual_seed(1)
    model = build_model(default_spec("resnet18", 129, "light")).eval()
    with torch.no_grad():
        for head in (model.body_head, model.ball_head, model.center_head):
            head.conv.weight.normal_(std=0.3)
            head.conv.bias.zero_()
        for final in (model.seg_head.semantic[-1], model.seg_head.offset[-1]):
            final.weight.normal_(std=50.0)
    return model


@pytest.fixture(scope="module")
def exported(lively_model, tmp_path_factory):
    """(path, export log lines) of the lively model exported with the defaults."""
    from dsl_deploy.export import export_onnx

    lines: list[str] = []
    path = export_onnx(lively_model, lively_model.spec, tmp_path_factory.mktemp("onnx") / "m.onnx",
                       log=lines.append)
    return path, lines


@pytest.fixture(scope="module")
def tiny_model():
    """A stand-in with the network's spec and raw-output contract but few weights: for the export plumbing."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch import nn

    from dsl_deploy.spec import default_spec

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.spec = default_spec("resnet18", 65, "light")
            self.stem = nn.Conv2d(3, 8, 3, stride=8, padding=1)  # (H-1)//8+1 cells: the PIF grid
            self.seg = nn.Conv2d(8, 3, 1)
            self.pif = nn.Conv2d(8, 19 * 5, 1)

        def forward(self, x):
            f = torch.relu(self.stem(x))
            seg = F.interpolate(self.seg(f), size=self.spec.seg_size, mode="bilinear", align_corners=True)
            return {"semantic": seg[:, :1], "offset": seg[:, 1:], "pif": 0.3 * self.pif(f).unflatten(1, (19, 5))}

    torch.manual_seed(0)
    return Tiny().eval()
