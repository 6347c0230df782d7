"""Prediction heads: the dual-branch segmentation head and the PIF heads (Sec. 3.2)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .layers import separable_conv

# Prior for an untrained network: confidence sigmoid(-4) ~ 0.018, below the decoder's seed threshold,
# so fresh fields are sparse (as a focal-loss style prior) instead of splatting everywhere.
PIF_CONFIDENCE_BIAS = -4.0
SEMANTIC_BIAS = -2.0
# Small final-layer weights keep the priors above in force although untrained features are large.
HEAD_WEIGHT_STD = 0.001


class SegmentationHead(nn.Module):
    """Two task-specific branches on the upsampled features: semantic logit (1) and offsets (2)."""

    def __init__(self, cin: int, semantic_width: int = 128, offset_width: int = 64):
        super().__init__()
        self.semantic = nn.Sequential(separable_conv(cin, semantic_width, 5), nn.Conv2d(semantic_width, 1, 1))
        self.offset = nn.Sequential(separable_conv(cin, offset_width, 5), nn.Conv2d(offset_width, 2, 1))
        finals: list[Any] = [self.semantic[-1], self.offset[-1]]  # the last 1x1 convolutions
        for final in finals:
            nn.init.normal_(final.weight, std=HEAD_WEIGHT_STD)
            nn.init.zeros_(final.bias)
        nn.init.constant_(finals[0].bias, SEMANTIC_BIAS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stride-4 features -> (semantic logit [B,1,h,w], offset [B,2,h,w] in input pixels)."""
        return self.semantic(x), self.offset(x)


class PifHead(nn.Module):
    """PIF parameters for `types` keypoint types: 1x1 convolution then a x2 pixel shuffle (stride 16 -> 8).

    Output [B, types, 5, 2h, 2w]: confidence logit, dx, dy (cells, relative to the cell), log b, log sigma.
    """

    CHANNELS = 5
    UPSCALE = 2

    def __init__(self, cin: int, types: int):
        super().__init__()
        self.types = types
        per_pixel = types * self.CHANNELS
        self.conv = nn.Conv2d(cin, per_pixel * self.UPSCALE ** 2, 1)
        self.shuffle = nn.PixelShuffle(self.UPSCALE)
        nn.init.normal_(self.conv.weight, std=HEAD_WEIGHT_STD)
        conv_bias: Any = self.conv.bias
        nn.init.zeros_(conv_bias)
        with torch.no_grad():
            # PixelShuffle reads output channel c from conv channels c*r^2 .. c*r^2 + r^2 - 1.
            bias = conv_bias.view(types, self.CHANNELS, self.UPSCALE ** 2)
            bias[:, 0, :] = PIF_CONFIDENCE_BIAS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-16 features -> [B, types, 5, 2h, 2w]."""
        return self.shuffle(self.conv(x)).unflatten(1, (self.types, self.CHANNELS))
