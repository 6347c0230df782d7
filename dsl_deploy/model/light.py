"""The lighter network variant (`architecture = "light"`): max-pool kept, layer4 dilated, decoder at stride 4."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..spec import NUM_BODY_PARTS, ModelSpec
from .aspp import ASPP
from .backbone import ResNetBackbone
from .heads import PifHead, SegmentationHead
from .layers import fit_grid, resize_to, warn_if_misfit
from .upsampling import UpsamplingModule


class LightNet(nn.Module):
    """Shared ResNet backbone; ASPP + upsampling module + dual-branch segmentation head; three PIF heads.

    forward(image [B,3,H,W] float32) -> raw outputs (docs/architecture.md "Network outputs / Raw"):
    `semantic` [B,1,Hs,Ws], `offset` [B,2,Hs,Ws], `pif` [B,19,5,Hp,Wp] with types in spec order.
    """

    def __init__(self, spec: ModelSpec, backbone_weights: str | Path | None = None):
        super().__init__()
        spec.validate()
        self.spec = spec
        self.backbone = ResNetBackbone(spec.backbone, backbone_weights)
        ch = self.backbone.channels
        self.aspp = ASPP(ch["out"], 256)
        self.upsample = UpsamplingModule(ch, cin=256)
        self.seg_head = SegmentationHead(self.upsample.out_channels)
        # Spec order is the 17 body parts, then ball (BALL = 17), then centre (CENTER = 18): forward
        # concatenates the heads in that order (tests check the ball and centre channels).
        self.body_head = PifHead(ch["out"], NUM_BODY_PARTS)
        self.ball_head = PifHead(ch["out"], 1)
        self.center_head = PifHead(ch["out"], 1)
        self._warned: set[tuple[int, int]] = set()

    def grid_sizes(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((Hs, Ws), (Hp, Wp)) for an input of height x width, as the spec defines them."""
        spec = self.spec.with_input_size(width, height)
        return spec.seg_size, spec.pif_size

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs for a float32 [B,3,H,W] batch."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"image: expected shape (B, 3, H, W), got {tuple(image.shape)}")
        h, w = int(image.shape[-2]), int(image.shape[-1])
        warn_if_misfit(self.spec, h, w, self._warned)
        seg_size, pif_size = self.grid_sizes(h, w)
        feats = self.backbone(image)
        up = self.upsample(self.aspp(feats["out"]), feats)
        semantic, offset = self.seg_head(up)
        if self.spec.seg_stride == 1:
            semantic, offset = resize_to(semantic, seg_size), resize_to(offset, seg_size)
        else:
            semantic, offset = fit_grid(semantic, seg_size), fit_grid(offset, seg_size)
        top = feats["out"]
        pif = torch.cat([self.body_head(top), self.ball_head(top), self.center_head(top)], dim=1)
        return {"semantic": semantic, "offset": offset, "pif": fit_grid(pif, pif_size)}
