"""Checking and preparing the ready fields for a decoder: shapes against the spec, batch dim, seg_stride upsampling."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InputError
from ..spec import NUM_TYPES, ModelSpec


def _strip_batch(name: str, arr: object, rank: int) -> np.ndarray:
    """The array without a leading batch dimension of 1; InputError on anything else."""
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{name}: expected a numpy float32 array, got {type(arr).__name__}")
    if arr.ndim == rank + 1:  # type: ignore[attr-defined]  # a numpy array from here on (checked above)
        if arr.shape[0] != 1:
            raise InputError(f"{name}: batch of {arr.shape[0]} frames; decode one frame at a time "
                             f"(pass fields[i] or a batch of 1)")
        arr = arr[0]
    if arr.ndim != rank:
        raise InputError(f"{name}: expected {rank} dimensions (or {rank + 1} with a batch of 1), "
                         f"got shape {tuple(arr.shape)}")
    if arr.dtype != np.float32:
        raise InputError(f"{name}: expected float32, got {arr.dtype}")
    return arr


def check_pif(pif: object, name: str = "pif") -> np.ndarray:
    """A float32 [19, 5, Hp, Wp] pif field (batch of 1 allowed)."""
    arr = _strip_batch(name, pif, 4)
    if arr.shape[0] != NUM_TYPES or arr.shape[1] != 5 or arr.shape[2] < 1 or arr.shape[3] < 1:
        raise InputError(f"{name}: expected shape [19, 5, Hp, Wp], got {tuple(arr.shape)}")
    return arr


def split_fields(fields: Mapping[str, np.ndarray], spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(player [Hs, Ws], offset [2, Hs, Ws], pif [19, 5, Hp, Wp]) checked against the spec's sizes."""
    if not isinstance(fields, Mapping):
        raise InputError(f"fields: expected a mapping with 'player', 'offset' and 'pif', got {type(fields).__name__}")
    missing = [k for k in ("player", "offset", "pif") if k not in fields]
    if missing:
        raise InputError(f"fields: missing {', '.join(missing)} (expected the ready fields player, offset, pif)")
    player = _strip_batch("player", fields["player"], 3)
    offset = _strip_batch("offset", fields["offset"], 3)
    pif = check_pif(fields["pif"])
    hs, ws = spec.seg_size
    hp, wp = spec.pif_size
    if player.shape != (1, hs, ws):
        raise InputError(f"player: expected shape [1, {hs}, {ws}] for a {spec.input.width}x{spec.input.height} "
                         f"input with seg_stride {spec.seg_stride}, got {list(player.shape)}")
    if offset.shape != (2, hs, ws):
        raise InputError(f"offset: expected shape [2, {hs}, {ws}], got {list(offset.shape)}")
    if pif.shape[2:] != (hp, wp):
        raise InputError(f"pif: expected shape [19, 5, {hp}, {wp}] for a {spec.input.width}x{spec.input.height} "
                         f"input, got {list(pif.shape)}")
    return player[0], offset, pif


def check_finite(**arrays: np.ndarray) -> None:
    """InputError naming the first array that holds NaN or inf."""
    for name, arr in arrays.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            where = tuple(int(v) for v in np.argwhere(bad)[0])
            raise InputError(f"{name}: non-finite value {arr[where]} at index {list(where)}")


def upsample(arr: np.ndarray, height: int, width: int, stride: int) -> np.ndarray:
    """Bilinear upsampling of [..., Hs, Ws] by `stride`, corners aligned (cell i at pixel stride*i), float32."""
    if stride == 1:
        return arr
    hs, ws = arr.shape[-2:]

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.arange(n_out)
        i0 = np.minimum(pos // stride, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        frac = np.where(i0 == n_in - 1, 0, pos % stride).astype(np.float32) / np.float32(stride)
        return i0, i1, frac

    y0, y1, fy = axis(height, hs)
    x0, x1, fx = axis(width, ws)
    one = np.float32(1.0)
    top = arr[..., y0, :][..., x0] * (one - fx) + arr[..., y0, :][..., x1] * fx
    bot = arr[..., y1, :][..., x0] * (one - fx) + arr[..., y1, :][..., x1] * fx
    out = top * (one - fy)[:, None] + bot * fy[:, None]
    return np.ascontiguousarray(out, dtype=np.float32)


def full_resolution(fields: Mapping[str, np.ndarray], spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """player [H, W], offset [2, H, W] at the input size, and pif, ready for any decoder implementation."""
    player, offset, pif = split_fields(fields, spec)
    h, w, s = spec.input.height, spec.input.width, spec.seg_stride
    return upsample(player, h, w, s), upsample(offset, h, w, s), pif
