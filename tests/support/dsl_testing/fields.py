"""Decoder test inputs: random PIF fields, and a spec with other decoder settings."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from dsl_deploy.spec import ModelSpec


def random_pif(rng: np.random.Generator, h: int, w: int, density: float = 0.3) -> np.ndarray:
    """PIF fields [19, 5, h', w'] at stride 8 for an h x w image: a `density` share of cells confident, positions
    spilling past the borders, log b in [0, 10), log sigma in [-1, 12)."""
    hp, wp = (h - 1) // 8 + 1, (w - 1) // 8 + 1
    pif = np.zeros((19, 5, hp, wp), np.float32)
    pif[:, 0] = rng.random((19, hp, wp)) * (rng.random((19, hp, wp)) < density)
    pif[:, 1] = rng.uniform(-10, w + 10, (19, hp, wp))
    pif[:, 2] = rng.uniform(-10, h + 10, (19, hp, wp))
    pif[:, 3] = rng.uniform(0, 10, (19, hp, wp))
    pif[:, 4] = rng.uniform(-1, 12, (19, hp, wp))
    return pif


def with_decoder(spec: ModelSpec, **settings: object) -> ModelSpec:
    """`spec` with its decoder settings replaced by `settings`."""
    return replace(spec, decoder=replace(spec.decoder, **settings))
