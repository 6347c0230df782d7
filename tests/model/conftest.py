"""Fixtures for the network and checkpoint tests: a small spec and a seeded resnet18 network."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_spec():
    """resnet18 at 129x129: the smallest size that fits the strides and still has a 17x17 PIF grid."""
    from dsl_deploy.spec import default_spec
    return default_spec("resnet18", 129)


@pytest.fixture(scope="session")
def small_model(small_spec):
    """A seeded, untrained resnet18 network in eval mode."""
    torch = pytest.importorskip("torch")
    from dsl_deploy.model import build_model
    torch.manual_seed(0)
    return build_model(small_spec).eval()
