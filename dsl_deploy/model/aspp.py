"""Atrous Spatial Pyramid Pooling (Sec. 3.2): parallel atrous convolutions and image pooling."""
from __future__ import annotations

import torch
from torch import nn

from .layers import conv_bn_relu, separable_conv


class ASPP(nn.Module):
    """1x1 branch, three separable atrous 3x3 branches and a global-pooling branch, projected to `cout`."""

    def __init__(self, cin: int, cout: int = 256, rates: tuple[int, ...] = (6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(cin, cout, 1)] +
                                      [separable_conv(cin, cout, 3, dilation=r) for r in rates])
        # No batch norm on the pooled 1x1 vector: it would need more than one value per channel in training,
        # so a batch of 1 (or a last batch of 1) would fail.
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = conv_bn_relu(cout * (len(rates) + 2), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-16 backbone features -> `cout` context features at the same resolution."""
        outs = [branch(x) for branch in self.branches]
        # Broadcasting the pooled vector (not interpolating a 1x1 map) exports to a plain Expand.
        outs.append(self.pool(x).expand(-1, -1, x.shape[-2], x.shape[-1]))
        return self.project(torch.cat(outs, dim=1))
