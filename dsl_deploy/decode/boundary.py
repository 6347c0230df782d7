"""The decoder boundary: what `Decoder` refuses, the same for the NumPy reference and the native core.

docs/architecture.md, "Decoding", states the contract: fields of the spec's shapes in float32 (any memory
layout: they are made C-contiguous here), sides of at most MAX_SIDE pixels, confidences in [0, 1] (the ready
fields are sigmoid outputs; a confidence of 1e30 would give a ball score of 1e29), and NaN or inf refused
only in the values the decode reads: every confidence; x, y and sigma of the seeds (cells whose confidence
passes seed_threshold); every player probability; the offsets of player pixels and of body-part maxima.
The native core checks the finite values itself (csrc/src: fuse.cpp check_pif, assign.cpp, decoder.cpp);
`check_read_values` gives the NumPy reference the same checks and the same messages, in the same order.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..spec import DecoderSpec
from .rules import above

MAX_SIDE = 8192  # the native core's limit per side (2^26 pixels in all)
_CHANNELS = ("confidence", "x", "y", "b", "sigma")


def check_side(name: str, value: object) -> int:
    """A map side given by the caller: an integer in [1, MAX_SIDE]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_SIDE:
        raise InputError(f"{name}: expected an integer in [1, {MAX_SIDE}], got {value!r}")
    return int(value)


def check_confidences(pif: np.ndarray) -> None:
    """Every confidence within [0, 1] (NaN is left to the finite checks, which name its cell)."""
    conf = pif[:, 0]
    lo, hi = float(conf.min()), float(conf.max())
    if lo < 0.0 or hi > 1.0:
        bad = np.isfinite(conf) & ((conf < 0.0) | (conf > 1.0))
        if bad.any():
            k, j, i = (int(v) for v in np.argwhere(bad)[0])
            raise InputError(f"pif: confidence {float(conf[k, j, i]):.6g} at type {k}, cell (x={i}, y={j}) is "
                             "outside [0, 1]; the decoder takes ready fields (sigmoid confidences, see "
                             "docs/architecture.md)")


def prepare(player: np.ndarray, offset: np.ndarray, pif: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boundary checks shared by every implementation; the arrays C-contiguous (copied only when not)."""
    h, w = player.shape
    check_side("player height", h)
    check_side("player width", w)
    check_confidences(pif)
    return np.ascontiguousarray(player), np.ascontiguousarray(offset), np.ascontiguousarray(pif)


def check_pif_values(pif: np.ndarray, d: DecoderSpec) -> None:
    """Non-finite confidences anywhere, or x, y, sigma of a seed: the native core's check_pif, same message."""
    for k in range(pif.shape[0]):
        conf = pif[k, 0]
        finite = np.isfinite(conf)
        seeds = finite & above(np.where(finite, conf, 0), d.seed_threshold, d.strict_thresholds)
        read = [~finite] + [seeds & ~np.isfinite(pif[k, ch]) for ch in (1, 2, 4)]
        bad = np.logical_or.reduce(read)
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            ch = next(ch for ch, mask in zip((0, 1, 2, 4), read) if mask.reshape(-1)[c])
            wp = pif.shape[3]
            raise InputError(f"pif: non-finite {_CHANNELS[ch]} at type {k}, cell (x={c % wp}, y={c // wp})")


def check_player_values(player: np.ndarray) -> None:
    """Every player probability finite (the native core's collect_foreground)."""
    bad = ~np.isfinite(player)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        w = player.shape[1]
        raise InputError(f"player: non-finite probability at (x={p % w}, y={p // w})")


def check_offsets_read(offset: np.ndarray, xs: np.ndarray, ys: np.ndarray, what: str) -> None:
    """The offsets read at pixels (xs, ys) finite; InputError naming the first one in raster order."""
    bad = ~(np.isfinite(offset[0, ys, xs]) & np.isfinite(offset[1, ys, xs]))
    if bad.any():
        w = offset.shape[2]
        first = int(np.min(ys[bad].astype(np.int64) * w + xs[bad]))
        raise InputError(f"offset: non-finite value at {what} pixel (x={first % w}, y={first // w})")


def check_read_values(player: np.ndarray, pif: np.ndarray, d: DecoderSpec) -> None:
    """The finite checks the native core makes before its first stage reads (the offsets: see reference.py)."""
    check_pif_values(pif, d)
    check_player_values(player)
