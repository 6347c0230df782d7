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


def network_like_fields(ann, spec: ModelSpec, rng: np.random.Generator, *, block: int = 6,
                        conf: tuple[float, float] = (0.15, 0.9), scatter: float = 3.0,
                        sigma: tuple[float, float] = (1.0, 3.0)) -> dict[str, np.ndarray]:
    """Ready fields shaped like a trained network's output for a synthetic annotation: the player map and
    offsets of the ground truth, and each keypoint (body parts, centre, ball) a `block` x `block` square of PIF
    cells with confidences uniform in `conf`, positions scattered by `scatter` px and sigma uniform in `sigma`."""
    from dsl_deploy.data.encode import ideal_fields, keypoint_list

    fields = ideal_fields(ann, spec)
    pif = fields["pif"]
    pif[:, 0] = 0.0
    hp, wp = spec.pif_size
    stride = spec.pif_stride
    for k, x, y, _s in keypoint_list(ann, spec):
        i0, j0 = int(round(x / stride)) - block // 2, int(round(y / stride)) - block // 2
        for j in range(max(j0, 0), min(j0 + block, hp)):
            for i in range(max(i0, 0), min(i0 + block, wp)):
                c = rng.uniform(*conf)
                if c > pif[k, 0, j, i]:
                    pif[k, :, j, i] = (c, x + rng.normal(0, scatter), y + rng.normal(0, scatter), 1.0,
                                       rng.uniform(*sigma))
    return fields
