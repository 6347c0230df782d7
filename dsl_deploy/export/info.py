"""Size and cost of the network: parameters and GFLOPs at the spec's input size."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..spec import ModelSpec

FLOPS_CONVENTION = ("FLOPs = 2 x multiply-accumulates of convolutions and matrix products "
                    "(torch.utils.flop_counter); batch norm, activations and resizes are not counted")


def model_info(model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """Parameter count and GFLOPs of one forward pass (batch 1) at the spec's input size."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, spec.input.height, spec.input.width)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    flops = counter.get_total_flops()
    return {
        "architecture": spec.architecture,
        "backbone": spec.backbone,
        "input": f"{spec.input.width}x{spec.input.height}",
        "params": int(params),
        "params_m": round(params / 1e6, 2),
        "flops": int(flops),
        "gflops": round(flops / 1e9, 2),
        "gmacs": round(flops / 2e9, 2),
        "flops_convention": FLOPS_CONVENTION,
    }
