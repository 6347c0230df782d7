"""A stand-in of the authors' network (ispgroupucl/DeepSportLab, the paper's cifcent + pan + ball model), for tests.

Written for these tests from what their code states (module paths and attribute names, layer widths, the
order of channels, eval-mode activations); no code of theirs is used. The classes carry the authors'
module paths only while `authors_modules()` is active, so `torch.save` pickles them under those names as
their trainer does, and the loader under test then finds none of them importable.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
import types
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

# Reference pose rows of their meta (the values do not matter to the loader; the numpy array does).
_POSE = np.array([[0.0, 9.3, 2.0]] * 18)


@dataclasses.dataclass
class IntensityMeta:
    name: str
    keypoints: list
    sigmas: list
    pose: Any
    draw_skeleton: Any = None
    n_confidences: int = 1
    n_vectors: int = 1
    n_scales: int = 1


@dataclasses.dataclass
class PanopticDeeplabMeta:
    name: str
    keypoints: list
    skeleton: list
    num_classes: tuple = (3, 2)
    class_key: tuple = ("semantic", "offset")


class Shell(nn.Module):
    def __init__(self, base_net: nn.Module, head_nets: list[nn.Module]):
        super().__init__()
        self.base_net = base_net
        self.head_nets = nn.ModuleList(head_nets)
        self.process_heads = None
        self.cross_talk = 0.0


class BaseNetworkWithSkips(nn.Module):
    def __init__(self, net: nn.Sequential, shortname: str):
        super().__init__()
        self.net, self.shortname, self.stride, self.out_features = net, shortname, 16, 0

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {"input": x}
        for i, module in enumerate(self.net):
            x = module(x)
            outputs[f"res{i + 1}"] = x
        return outputs


class ASPPConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, rate: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=rate, dilation=rate, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class ASPPPooling(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.aspp_pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.aspp_pooling(x), size=x.shape[-2:], mode="bilinear", align_corners=True)


class ASPP(nn.Module):
    def __init__(self, cin: int, cout: int = 128):
        super().__init__()
        self.convs = nn.ModuleList([nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                                  nn.ReLU())]
                                   + [ASPPConv(cin, cout, r) for r in (3, 6, 9)] + [ASPPPooling(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(5 * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                     nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


def _stacked_separable(cin: int, cout: int) -> nn.Sequential:
    """stacked_conv(num_stack=1) of one depthwise_separable_conv, kernel 5."""
    depthwise = nn.Sequential(nn.Conv2d(cin, cin, 5, padding=2, groups=cin, bias=False), nn.BatchNorm2d(cin),
                              nn.ReLU())
    return nn.Sequential(nn.Sequential(depthwise, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                       nn.ReLU()))


class SinglePanopticDeepLabDecoder(nn.Module):
    def __init__(self, low_level_channels: tuple[int, int, int], top: int):
        super().__init__()
        self.aspp = ASPP(top)
        self.feature_key, self.low_level_key, self.decoder_stage = "res5", ("res4", "res3", "res2"), 3
        self.project = nn.ModuleList(nn.Sequential(nn.Conv2d(c, p, 1, bias=False), nn.BatchNorm2d(p), nn.ReLU())
                                     for c, p in zip(low_level_channels, (128, 64, 32)))
        self.fuse = nn.ModuleList(_stacked_separable(128 + p, 128) for p in (128, 64, 32))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.aspp(features[self.feature_key])
        for i in range(self.decoder_stage):
            low = self.project[i](features[self.low_level_key[i]])
            x = F.interpolate(x, size=low.shape[2:], mode="bilinear", align_corners=True)
            x = self.fuse[i](torch.cat((x, low), dim=1))
        return x


class SinglePanopticDeepLabHead(nn.Module):
    def __init__(self, num_classes: tuple[int, int]):
        super().__init__()
        self.num_head, self.class_key = 2, ("semantic", "offset")
        self.classifier = nn.ModuleDict({key: nn.Sequential(_stacked_separable(128, 128), nn.Conv2d(128, n, 1))
                                         for key, n in zip(self.class_key, num_classes)})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {key: self.classifier[key](x) for key in self.class_key}


class PanopticDeeplabHead(nn.Module):
    def __init__(self, meta: PanopticDeeplabMeta, low_level_channels: tuple[int, int, int], top: int):
        super().__init__()
        self.meta = meta
        self.decoder = SinglePanopticDeepLabDecoder(low_level_channels, top)
        self.head = SinglePanopticDeepLabHead(meta.num_classes)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pred = self.head(self.decoder(features))
        size = features["input"].shape[-2:]
        out = {}
        for key, value in pred.items():
            up = F.interpolate(value, size=size, mode="bilinear", align_corners=True)
            if key == "offset":
                up *= (size[0] - 1) // (value.shape[2] - 1)
            out[key] = up
        return out


class CompositeFieldFused(nn.Module):
    def __init__(self, meta: IntensityMeta, cin: int):
        super().__init__()
        n = len(meta.keypoints)
        self.meta, self.dropout, self._quad = meta, nn.Dropout2d(p=0.0), 1
        self.out_features = [n, 3 * n, 4 * n, 5 * n]
        self.conv = nn.Conv2d(cin, 5 * n * 4, 1)
        self.dequad_op = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Eval mode: (sigmoid confidence [B,n,1,h,w], regression [B,n,1,2,h,w], log b [B,n,1,h,w], scale)."""
        x = self.dequad_op(self.conv(self.dropout(x)))[:, :, :-1, :-1]
        n, (a, b, c, d) = len(self.meta.keypoints), self.out_features
        shape = (x.shape[0], n, 1, x.shape[2], x.shape[3])
        return (torch.sigmoid(x[:, :a].view(shape)), x[:, a:b].reshape(x.shape[0], n, 1, 2, *x.shape[2:]),
                x[:, b:c].view(shape), torch.exp(x[:, c:d].view(shape)))


_CLASSES = {
    "openpifpaf.network.nets": (Shell,),
    "openpifpaf.network.basenetworks": (BaseNetworkWithSkips,),
    "openpifpaf.network.heads": (CompositeFieldFused, PanopticDeeplabHead, IntensityMeta, PanopticDeeplabMeta),
    "openpifpaf.panoptic_deeplab.decoder.panoptic_deeplab": (SinglePanopticDeepLabDecoder, SinglePanopticDeepLabHead),
    "openpifpaf.panoptic_deeplab.decoder.aspp": (ASPP, ASPPConv, ASPPPooling),
}


@contextlib.contextmanager
def authors_modules() -> Iterator[None]:
    """Install fake `openpifpaf.*` modules holding the stand-ins (so pickle names them so); remove them after."""
    saved = {cls: cls.__module__ for classes in _CLASSES.values() for cls in classes}
    added = []
    try:
        for path, classes in _CLASSES.items():
            parts = path.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name not in sys.modules:
                    sys.modules[name] = types.ModuleType(name)
                    added.append(name)
            for cls in classes:
                cls.__module__ = path
                setattr(sys.modules[path], cls.__name__, cls)
        yield
    finally:
        for cls, module in saved.items():
            cls.__module__ = module
        for name in added:
            sys.modules.pop(name, None)


STAGES = {"resnet18": (64, 128, 256, 512), "resnet50": (256, 512, 1024, 2048)}


def authors_network(backbone: str = "resnet18", seed: int = 0, heads: tuple[str, ...] = ("cifcent", "pan", "ball"),
                    semantic_classes: int = 3) -> Shell:
    """Their Shell for `backbone` with random weights and batch-norm statistics (lively outputs), eval mode."""
    torch.manual_seed(seed)
    resnet = getattr(models, backbone)(weights=None)
    base = BaseNetworkWithSkips(nn.Sequential(nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu), resnet.layer1,
                                              resnet.layer2, resnet.layer3, resnet.layer4), backbone)
    c1, c2, c3, c4 = STAGES[backbone]
    names = [f"kp{i}" for i in range(17)]
    made = []
    for head in heads:
        if head == "pan":
            made.append(PanopticDeeplabHead(PanopticDeeplabMeta("pan", names, [], (semantic_classes, 2)), (c3, c2, c1),
                                            c4))
        else:
            n = {"cifcent": 18, "cif": 17, "ball": 1}[head]
            made.append(CompositeFieldFused(IntensityMeta(head, names[:n] + ["center"] * (n - 17), [0.1] * n,
                                                          _POSE[:n]), c4))
    net = Shell(base, made)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):  # their model_defaults
                m.eps, m.momentum = 1e-4, 0.01
                m.running_mean.normal_(std=0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(std=0.1)
        for head in made:  # outputs of a useful range: confidences across (0, 1), scales of a few cells
            finals = [(head.conv, 0.01)] if isinstance(head, CompositeFieldFused) else \
                [(head.head.classifier["semantic"][1], 1.0), (head.head.classifier["offset"][1], 1.0)]
            for conv, std in finals:
                conv.weight.normal_(std=std)
                conv.bias.normal_(std=0.5)
        net.eval()
        for head in made:  # centre each class logit on a random frame, so that all three classes occur
            if isinstance(head, PanopticDeeplabHead):
                logits = head(net.base_net(torch.randn(1, 3, 65, 65)))["semantic"]
                head.head.classifier["semantic"][1].bias -= logits.mean(dim=(0, 2, 3))
    return net


def save_authors_checkpoint(path: Any, net: Shell, *, epoch: int = 7, square_edge: int | None = 129) -> None:
    """torch.save the way their trainer writes a checkpoint: the whole model, the epoch and the run's meta."""
    args = {"basenet": net.base_net.shortname, "headnets": [h.meta.name for h in net.head_nets],
            "device": torch.device("cpu"), "lr": 1e-4}
    if square_edge is not None:
        args["square_edge"] = square_edge
    with authors_modules():
        torch.save({"model": net, "epoch": epoch, "meta": {"args": args, "version": "0.12.0", "hostname": "h"},
                    "tb_filename": "events"}, path)
