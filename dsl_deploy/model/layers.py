"""Small building blocks shared by the ASPP, the upsampling module and the heads."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import ModelSpec


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Plain convolution, batch norm, ReLU ('same' padding)."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def separable_conv(cin: int, cout: int, kernel: int = 3, dilation: int = 1) -> nn.Sequential:
    """Depthwise then pointwise convolution, each with batch norm and ReLU (Panoptic-DeepLab style).

    Separable convolutions keep the atrous and decoder layers cheap at high resolution, where a dense
    3x3 convolution would dominate the network's cost.
    """
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cin, kernel, padding=pad, dilation=dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with corners aligned, so grid cell i of stride s stays at input pixel s*i."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def fit_grid(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring a grid to exactly `size`: crop trailing cells when it is larger (exact geometry), else resize.

    A stride-2 convolution chain gives ceil-sized grids whose cell k sits at pixel stride*k, so the
    extra trailing cells lie past the image edge and cropping them keeps every remaining cell in place.
    """
    h, w = int(size[0]), int(size[1])
    if x.shape[-2] >= h and x.shape[-1] >= w:
        return x[..., :h, :w]
    return resize_to(x, (h, w))


def warn_if_misfit(spec: ModelSpec, h: int, w: int, warned: set[tuple[int, int]]) -> None:
    """Warn once per input size that does not fit the network strides ((size - 1) % stride != 0)."""
    stride = spec.backbone_stride
    if ((h - 1) % stride or (w - 1) % stride) and (h, w) not in warned:
        warned.add((h, w))
        warnings.warn(f"input size {w}x{h} does not fit the network strides ((size - 1) % {stride} != 0, "
                      f"e.g. {16 * ((max(h, w) - 1) // 16) + 1}); the output grids are interpolated to "
                      "the spec sizes, which blurs positions slightly", stacklevel=4)


def set_batchnorm(module: nn.Module, eps: float, momentum: float) -> None:
    """Give every batch norm in `module` this eps and running-statistics momentum."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps, m.momentum = eps, momentum
