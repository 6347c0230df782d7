"""ResNet backbone (torchvision) with output stride 16 and the intermediate features the decoder needs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models

from ..errors import ArtifactError, SpecError, first_line
from ..spec import BACKBONES
from .statedict import state_dict_diff

# Channels of the features returned by ResNetBackbone.forward, per backbone.
FEATURE_CHANNELS: dict[str, dict[str, int]] = {
    "resnet18": {"s4": 64, "s8": 128, "s16": 256, "out": 512},
    "resnet34": {"s4": 64, "s8": 128, "s16": 256, "out": 512},
    "resnet50": {"s4": 256, "s8": 512, "s16": 1024, "out": 2048},
}


def _dilate_basic_stage(stage: nn.Sequential) -> None:
    """Turn the stride-2 last stage of a BasicBlock ResNet into a stride-1, dilation-2 stage.

    torchvision refuses dilation for BasicBlock, so the convolutions are edited after construction,
    following the same rule torchvision uses for Bottleneck: the first block keeps dilation 1 on its
    strided convolution, every later 3x3 convolution gets dilation 2.
    """
    blocks: list[Any] = list(stage)  # BasicBlocks (nn.Module types its children loosely)
    for idx, block in enumerate(blocks):
        convs = [block.conv1, block.conv2]
        for cidx, conv in enumerate(convs):
            conv.stride = (1, 1)
            if idx > 0 or cidx > 0:
                conv.dilation = (2, 2)
                conv.padding = (2, 2)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)


class ResNetBackbone(nn.Module):
    """torchvision ResNet without its classifier; the last stage is dilated so the output stride is 16."""

    def __init__(self, name: str, weights_path: str | Path | None = None):
        super().__init__()
        if name not in BACKBONES:
            raise SpecError(f"backbone: {name!r} is not supported; expected one of {', '.join(BACKBONES)}")
        self.name = name
        self.channels = FEATURE_CHANNELS[name]
        # zero_init_residual: each block starts as the identity, so untrained features stay of unit scale
        # and the heads' priors (sparse confidence) hold for a fresh network.
        if name == "resnet50":
            net = models.resnet50(weights=None, zero_init_residual=True,
                                   replace_stride_with_dilation=[False, False, True])
        else:
            net = getattr(models, name)(weights=None, zero_init_residual=True)
            _dilate_basic_stage(net.layer4)
        if weights_path is not None:
            load_backbone_weights(net, weights_path, name)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features at strides 4, 8, 16 (layer3) and 16 (layer4, dilated)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        s4 = self.layer1(x)
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        out = self.layer4(s16)
        return {"s4": s4, "s8": s8, "s16": s16, "out": out}


def load_backbone_weights(net: nn.Module, path: str | Path, name: str) -> None:
    """Load a local torchvision ResNet weight file (ImageNet classifier keys are ignored); never downloads."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"{p}: backbone weight file not found (expected a local torchvision {name} .pth)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(f"{p}: not a readable torchvision weight file "
                            f"({type(exc).__name__}: {first_line(exc)})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{p}: expected a state_dict of tensors (torchvision {name} weights)")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    diff = state_dict_diff(own, state)
    if diff:
        raise ArtifactError(f"{p}: not torchvision {name} weights: {diff}")
    net.load_state_dict(state, strict=False)

