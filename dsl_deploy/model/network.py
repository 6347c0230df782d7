"""`build_model`: the network of a spec, by its `architecture` (docs/architecture.md "Network")."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import SpecError
from ..spec import ARCHITECTURES, ModelSpec
from .deepsportlab import DeepSportLabNet
from .light import LightNet

NETWORKS: dict[str, type[nn.Module]] = {"deepsportlab": DeepSportLabNet, "light": LightNet}


def build_model(spec: ModelSpec, backbone_weights: str | Path | None = None) -> nn.Module:
    """The network for `spec` (random init; backbone from a local torchvision file when given, never downloaded)."""
    if spec.architecture not in NETWORKS:
        raise SpecError(f"architecture: {spec.architecture!r} is not supported; expected one of "
                        f"{', '.join(ARCHITECTURES)}")
    return NETWORKS[spec.architecture](spec, backbone_weights)
