"""Decoding the ready fields into players, poses and ball (Sec. 3.4): NumPy reference, native C++ core, CUDA.

Light to import (numpy only). `decode(fields, spec)` for one frame, `Decoder(spec)` to reuse scratch
buffers across frames, `fuse(pif, height, width)` for the Eq. 3 maps alone.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..result import FrameResult
from ..spec import ModelSpec
from .decoder import IMPLS, Decoder, native_available, resolve_impl

__all__ = ["IMPLS", "Decoder", "decode", "fuse", "native_available", "resolve_impl"]


def decode(fields: Mapping[str, np.ndarray], spec: ModelSpec, *, impl: str = "auto",
           params: Mapping[str, Any] | None = None) -> FrameResult:
    """Decode one frame's ready fields (player, offset, pif; batch of 1 allowed) into a FrameResult."""
    return Decoder(spec, impl=impl, params=params)(fields)


def fuse(pif: np.ndarray, height: int, width: int, *, exact: bool = False, impl: str = "native",
         spec: ModelSpec | None = None) -> np.ndarray:
    """Eq. 3 fused maps float32 [19, height, width] of a pif field [19, 5, Hp, Wp]."""
    spec = spec if spec is not None else ModelSpec().with_input_size(width, height)
    return Decoder(spec, impl=impl).fuse(pif, height, width, exact=exact)
