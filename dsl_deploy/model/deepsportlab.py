"""The authors' network (`architecture = "deepsportlab"`), laid out so that their state dict loads as it is.

What it is (read from ispgroupucl/DeepSportLab, `openpifpaf/network/` and `openpifpaf/panoptic_deeplab/decoder/`,
for the paper's model `resnet50-...-cifcent-pan-ball-edge641`), in our own code:

- `base_net.net`: a torchvision ResNet without its max-pool; stages at strides 2 (stem), 2, 4, 8 and 16
  (layer4 strided, not dilated).
- `head_nets.0`: the "cifcent" PIF head (17 body parts + player centre), `head_nets.2`: the "ball" PIF head;
  each a 1x1 convolution on the stride-16 features, a x2 pixel shuffle and the last row and column cropped,
  channels grouped by component (confidences, x/y regressions, log b, log scale).
- `head_nets.1`: the panoptic head: a dense ASPP (128 channels, rates 3/6/9, image pooling through a bias-free
  convolution, dropout 0.5) on layer4; skips from layer3/2/1 projected to 128/64/32 channels, each fused by a 5x5
  depthwise-separable convolution 128 wide, ending at stride 2; a semantic branch (3 classes: background,
  player, ball) and an offset branch ((dy, dx) in stride-2 units), both upsampled bilinearly (corners aligned)
  to the input size, the offsets then multiplied by the stride ratio.
- Every batch norm has eps 1e-4 and momentum 0.01.

Module and attribute names follow theirs, so the parameter names and shapes are theirs one to one.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from ..errors import InputError
from ..spec import NUM_BODY_PARTS, ModelSpec
from .backbone import load_backbone_weights
from .heads import HEAD_WEIGHT_STD, PIF_CONFIDENCE_BIAS, SEMANTIC_BIAS
from .layers import fit_grid, set_batchnorm, warn_if_misfit

BN_EPS = 1e-4
BN_MOMENTUM = 0.01
DECODER_WIDTH = 128  # ASPP, fuse and head channels of the panoptic head
ATROUS_RATES = (3, 6, 9)
SKIP_PROJECTIONS = (128, 64, 32)  # layer3, layer2, layer1
SEMANTIC_CLASSES = ("background", "player", "ball")
PLAYER_CLASS = 1
# Channels of the ResNet stages: stem, layer1, layer2, layer3, layer4.
STAGE_CHANNELS = {"resnet18": (64, 64, 128, 256, 512), "resnet34": (64, 64, 128, 256, 512),
                  "resnet50": (64, 256, 512, 1024, 2048)}
CIF_FIELDS = NUM_BODY_PARTS + 1  # the "cifcent" head: 17 body parts, then the player centre
BALL_FIELDS = 1


def _conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Bias-free convolution, batch norm, ReLU ('same' padding): keys .0 (conv), .1 (bn)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                                   bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def _fuse_conv(cin: int, cout: int) -> nn.Sequential:
    """A 5x5 depthwise-separable convolution in their nesting: a stack of one (depthwise block, pointwise, bn)."""
    separable = nn.Sequential(_conv_bn_relu_grouped(cin, 5), nn.Conv2d(cin, cout, 1, bias=False),
                              nn.BatchNorm2d(cout), nn.ReLU())
    return nn.Sequential(separable)


def _conv_bn_relu_grouped(channels: int, kernel: int) -> nn.Sequential:
    """Depthwise convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, padding=(kernel - 1) // 2, groups=channels,
                                   bias=False), nn.BatchNorm2d(channels), nn.ReLU())


class SkipBackbone(nn.Module):
    """`net` = [stem (conv1, bn1, relu), layer1, layer2, layer3, layer4]; forward returns every stage's output."""

    def __init__(self, name: str, weights_path: str | Path | None = None):
        super().__init__()
        # zero_init_residual: untrained blocks start as the identity (our choice for training from scratch;
        # it changes no name or shape).
        resnet = getattr(models, name)(weights=None, zero_init_residual=True)
        if weights_path is not None:
            load_backbone_weights(resnet, weights_path, name)
        stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
        self.net = nn.Sequential(stem, resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[stride 2, 2, 4, 8, 16] features."""
        out = []
        for stage in self.net:
            x = stage(x)
            out.append(x)
        return out


class ImagePooling(nn.Module):
    """Global average, bias-free 1x1 convolution, ReLU, broadcast back over the grid."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.aspp_pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,cin,h,w] -> [B,cout,h,w] (a corners-aligned resize of a 1x1 map is this broadcast, exactly)."""
        return self.aspp_pooling(x).expand(-1, -1, x.shape[-2], x.shape[-1])


class DenseASPP(nn.Module):
    """1x1 branch, three dense atrous 3x3 branches, image pooling; projected, then dropout 0.5."""

    def __init__(self, cin: int, cout: int = DECODER_WIDTH, rates: tuple[int, ...] = ATROUS_RATES):
        super().__init__()
        self.convs = nn.ModuleList([_conv_bn_relu(cin, cout, 1)] + [_conv_bn_relu(cin, cout, 3, r) for r in rates]
                                   + [ImagePooling(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(cout * len(self.convs), cout, 1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-16 features -> context features."""
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class SkipDecoder(nn.Module):
    """ASPP on layer4, then for layer3, layer2, layer1: project, resize the running features, concat, fuse."""

    def __init__(self, stage_channels: tuple[int, ...]):
        super().__init__()
        self.aspp = DenseASPP(stage_channels[4])
        skips = (stage_channels[3], stage_channels[2], stage_channels[1])
        self.project = nn.ModuleList(_conv_bn_relu(c, p, 1) for c, p in zip(skips, SKIP_PROJECTIONS))
        self.fuse = nn.ModuleList(_fuse_conv(DECODER_WIDTH + p, DECODER_WIDTH) for p in SKIP_PROJECTIONS)

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        """Backbone stages -> stride-2 features (DECODER_WIDTH channels)."""
        x = self.aspp(stages[4])
        for skip, project, fuse in zip((stages[3], stages[2], stages[1]), self.project, self.fuse):
            low = project(skip)
            x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=True)
            x = fuse(torch.cat((x, low), dim=1))
        return x


class SegmentationHeads(nn.Module):
    """`classifier.semantic` (3 logits) and `classifier.offset` (dy, dx), each a fuse conv then a 1x1 conv."""

    def __init__(self, width: int = DECODER_WIDTH):
        super().__init__()
        self.classifier = nn.ModuleDict({
            "semantic": nn.Sequential(_fuse_conv(width, width), nn.Conv2d(width, len(SEMANTIC_CLASSES), 1)),
            "offset": nn.Sequential(_fuse_conv(width, width), nn.Conv2d(width, 2, 1)),
        })
        classifier: Any = self.classifier  # nn.ModuleDict of nn.Sequential
        for final in (classifier["semantic"][-1], classifier["offset"][-1]):
            nn.init.normal_(final.weight, std=HEAD_WEIGHT_STD)
            nn.init.zeros_(final.bias)
        with torch.no_grad():  # an untrained network calls few pixels player or ball
            classifier["semantic"][-1].bias[1:] = SEMANTIC_BIAS

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stride-2 features -> (class logits [B,3,h,w], offsets (dy, dx) [B,2,h,w] in stride-2 units)."""
        return self.classifier["semantic"](x), self.classifier["offset"](x)


class PanopticHead(nn.Module):
    """`decoder` (ASPP + skips) and `head` (semantic and offset branches); outputs at the input size."""

    def __init__(self, stage_channels: tuple[int, ...]):
        super().__init__()
        self.decoder = SkipDecoder(stage_channels)
        self.head = SegmentationHeads()

    def forward(self, stages: list[torch.Tensor], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(class logits [B,3,H,W], offsets (dy, dx) [B,2,H,W] in input pixels)."""
        semantic, offset = self.head(self.decoder(stages))
        ratio = (size[0] - 1) // (offset.shape[-2] - 1)  # the stride of the branch's grid, as an integer
        semantic = F.interpolate(semantic, size=size, mode="bilinear", align_corners=True)
        offset = F.interpolate(offset, size=size, mode="bilinear", align_corners=True) * ratio
        return semantic, offset


class FusedPifHead(nn.Module):
    """`conv`: 1x1 convolution to 5 components x fields x 4 sub-cells; pixel shuffle x2; last row/column cropped.

    Output channels after the shuffle are grouped by component: confidences [0, n), x/y regressions
    [n, 3n) (field f at n + 2f, n + 2f + 1), log b [3n, 4n), log scale [4n, 5n).
    """

    def __init__(self, cin: int, fields: int):
        super().__init__()
        self.fields = fields
        self.conv = nn.Conv2d(cin, 5 * fields * 4, 1)
        self.shuffle = nn.PixelShuffle(2)
        nn.init.normal_(self.conv.weight, std=HEAD_WEIGHT_STD)
        bias: Any = self.conv.bias
        nn.init.zeros_(bias)
        with torch.no_grad():  # shuffle output channel c reads conv channels 4c .. 4c + 3
            bias[:4 * fields] = PIF_CONFIDENCE_BIAS

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stride-16 features -> confidence logit, x/y regression (cells), log b, log scale; [B,n,(2,)h,w]."""
        y = self.shuffle(self.conv(x))[:, :, :-1, :-1]
        n = self.fields
        return {"confidence": y[:, :n], "regression": y[:, n:3 * n].unflatten(1, (n, 2)),
                "log_b": y[:, 3 * n:4 * n], "log_scale": y[:, 4 * n:5 * n]}


class DeepSportLabNet(nn.Module):
    """The authors' network; forward gives our raw outputs (docs/architecture.md "Network outputs / Raw").

    Raw outputs: `semantic` [B,1,H,W] = l_player - max(l_background, l_ball) (so sigmoid of it is
    p_player / (p_player + max(p_background, p_ball))), `semantic_classes` [B,3,H,W] the class logits,
    `offset` (dx, dy) in input pixels, `pif` [B,19,5,Hp,Wp] (confidence logit, dx, dy in cells, log b,
    log sigma in cells = log scale + log 0.5) and `pif_log_scale` [B,19,Hp,Wp], the authors' log scale,
    from which the ready fields take sigma = 0.5 * scale * stride exactly as their decoder computes it.
    """

    def __init__(self, spec: ModelSpec, backbone_weights: str | Path | None = None):
        super().__init__()
        spec.validate()
        self.spec = spec
        channels = STAGE_CHANNELS[spec.backbone]
        self.base_net = SkipBackbone(spec.backbone, backbone_weights)
        self.head_nets = nn.ModuleList([FusedPifHead(channels[4], CIF_FIELDS), PanopticHead(channels),
                                        FusedPifHead(channels[4], BALL_FIELDS)])
        set_batchnorm(self, BN_EPS, BN_MOMENTUM)
        self._warned: set[tuple[int, int]] = set()

    def head_outputs(self, image: torch.Tensor) -> dict[str, Any]:
        """The heads' raw outputs as the authors' network gives them in training mode (before sigmoid/exp)."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"image: expected shape (B, 3, H, W), got {tuple(image.shape)}")
        h, w = int(image.shape[-2]), int(image.shape[-1])
        warn_if_misfit(self.spec, h, w, self._warned)
        stages = self.base_net(image)
        cif, pan, ball = self.head_nets
        semantic, offset_yx = pan(stages, (h, w))
        return {"cif": cif(stages[4]), "ball": ball(stages[4]), "semantic": semantic, "offset_yx": offset_yx}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs for a float32 [B,3,H,W] batch."""
        heads = self.head_outputs(image)
        semantic = heads["semantic"]
        others = torch.maximum(semantic[:, :PLAYER_CLASS], semantic[:, PLAYER_CLASS + 1:])
        pif_size = self.spec.with_input_size(image.shape[-1], image.shape[-2]).pif_size
        cif, ball = heads["cif"], heads["ball"]

        def by_type(key: str) -> torch.Tensor:
            """Spec order: body parts 0..16 (cif fields 0..16), ball (the ball head), centre (cif field 17)."""
            return torch.cat([cif[key][:, :NUM_BODY_PARTS], ball[key], cif[key][:, NUM_BODY_PARTS:]], dim=1)

        reg, log_scale = by_type("regression"), by_type("log_scale")
        pif = torch.stack([by_type("confidence"), reg[:, :, 0], reg[:, :, 1], by_type("log_b"),
                           log_scale + math.log(0.5)], dim=2)
        if tuple(pif.shape[-2:]) != tuple(pif_size):  # sizes that do not fit the strides
            pif = fit_grid(pif.flatten(1, 2), pif_size).unflatten(1, (pif.shape[1], pif.shape[2]))
            log_scale = fit_grid(log_scale, pif_size)
        offset = heads["offset_yx"]
        return {"semantic": semantic[:, PLAYER_CLASS:PLAYER_CLASS + 1] - others, "semantic_classes": semantic,
                "offset": torch.cat((offset[:, 1:], offset[:, :1]), dim=1), "pif": pif, "pif_log_scale": log_scale}
