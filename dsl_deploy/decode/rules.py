"""Small pieces of the decode contract shared by the NumPy reference and the paper-style peer."""
from __future__ import annotations

import numpy as np

_F = np.float32


def above(values: np.ndarray, threshold: float, strict: bool) -> np.ndarray:
    """values > threshold (strict, the authors' rule) or values >= threshold, compared in float32."""
    t = _F(threshold)
    return values > t if strict else values >= t


def approx_exp(e: np.ndarray) -> np.ndarray:
    """The authors' exp(e) for the Gaussian: (1 + e/8)^8 by three squarings in float32, 0 outside [-2, 2]."""
    a = _F(1.0) + e * _F(0.125)
    a = a * a
    a = a * a
    a = a * a
    return np.where((e > _F(2.0)) | (e < _F(-2.0)), _F(0.0), a).astype(np.float32)
