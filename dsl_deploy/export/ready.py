"""Raw network outputs -> ready fields (docs/architecture.md "Ready fields"), for export and the torch backend."""
from __future__ import annotations

import torch
from torch import nn

from ..spec import ModelSpec

_DEFAULT_STRIDE = ModelSpec().pif_stride


def ready_fields(raw: dict[str, torch.Tensor], pif_stride: int = _DEFAULT_STRIDE) -> dict[str, torch.Tensor]:
    """`player` = sigmoid(semantic), `offset` unchanged, `pif` = confidence, absolute x, y, b, sigma in pixels.

    sigma is stride * exp(log sigma), or, when the raw outputs carry the authors' `pif_log_scale`,
    0.5 * exp(log scale) * stride computed as their decoder does (no floor: the decoder applies sigma_min).
    x = (dx + column) * stride and y = (dy + row) * stride in float32, as their decoder.
    """
    pif = raw["pif"]
    hp, wp = pif.shape[-2], pif.shape[-1]
    # Cell (j, i) sits at input pixel (stride*i, stride*j); i is the column, j the row.
    cols = torch.arange(wp, dtype=pif.dtype, device=pif.device).view(1, 1, 1, wp)
    rows = torch.arange(hp, dtype=pif.dtype, device=pif.device).view(1, 1, hp, 1)
    s = float(pif_stride)
    fields = torch.stack([
        torch.sigmoid(pif[:, :, 0]),
        (pif[:, :, 1] + cols) * s,
        (pif[:, :, 2] + rows) * s,
        s * torch.exp(pif[:, :, 3]),
        (0.5 * torch.exp(raw["pif_log_scale"])) * s if "pif_log_scale" in raw else s * torch.exp(pif[:, :, 4]),
    ], dim=2)
    return {"player": torch.sigmoid(raw["semantic"]), "offset": raw["offset"], "pif": fields}


class ReadyFields(nn.Module):
    """Export wrapper: image -> (player, offset, pif) ready fields, in the order of spec.outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.spec: ModelSpec = model.spec  # type: ignore[assignment]  # every network here has .spec
        self.train(model.training)  # a new Module starts in training mode; follow the wrapped network's

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Ready fields for a float32 [B,3,H,W] batch."""
        out = ready_fields(self.model(image), self.spec.pif_stride)
        return tuple(out[name] for name in self.spec.outputs)
