"""Comparing a state_dict against a network's, for error messages that name the keys."""
from __future__ import annotations

from typing import Mapping

import torch


def state_dict_diff(expected: Mapping[str, torch.Tensor], found: Mapping[str, object], n: int = 3) -> str:
    """'' when `found` matches `expected` in keys and shapes, else a short report naming the first keys."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(
        k for k in set(expected) & set(found)
        if not isinstance(found[k], torch.Tensor) or tuple(found[k].shape) != tuple(expected[k].shape)  # type: ignore[attr-defined]
    )
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched)):
        if keys:
            more = f" and {len(keys) - n} more" if len(keys) > n else ""
            parts.append(f"{len(keys)} {label} key(s) ({', '.join(keys[:n])}{more})")
    return "; ".join(parts)
