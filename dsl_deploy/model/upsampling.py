"""Upsampling module (Panoptic-DeepLab style, modified as in Sec. 3.2): three skips, bilinear before each concat."""
from __future__ import annotations

import torch
from torch import nn

from .layers import conv_bn_relu, resize_to, separable_conv


class UpsamplingModule(nn.Module):
    """Fuses ASPP context with the backbone's stride-16, -8 and -4 features; output at stride 4.

    Each step resizes the running features bilinearly to the skip's grid, concatenates the skip after
    a 1x1 projection, and fuses them with a separable 5x5 convolution.
    """

    def __init__(self, skip_channels: dict[str, int], cin: int = 256,
                 projections: tuple[int, int, int] = (128, 64, 32),
                 widths: tuple[int, int, int] = (256, 256, 128)):
        super().__init__()
        self.skips = ("s16", "s8", "s4")
        self.project = nn.ModuleList(conv_bn_relu(skip_channels[k], p, 1) for k, p in zip(self.skips, projections))
        fuse, c = [], cin
        for p, w in zip(projections, widths):
            fuse.append(separable_conv(c + p, w, 5))
            c = w
        self.fuse = nn.ModuleList(fuse)
        self.out_channels = c

    def forward(self, context: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """ASPP output + backbone features -> stride-4 features."""
        x = context
        for key, project, fuse in zip(self.skips, self.project, self.fuse):
            skip = project(features[key])
            x = resize_to(x, (skip.shape[-2], skip.shape[-1]))
            x = fuse(torch.cat([x, skip], dim=1))
        return x
