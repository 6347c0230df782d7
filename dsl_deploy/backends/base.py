"""Backend contract: a batch of preprocessed inputs in, the network's named output fields out."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TypeVar

import numpy as np

from ..errors import InputError
from ..spec import ModelSpec

B = TypeVar("B", bound="Backend")


class Backend(ABC):
    """One way to run the network. Knows shapes and names, not what the fields mean."""

    name: str = "backend"
    spec: ModelSpec

    @classmethod
    def is_available(cls) -> bool:
        """Whether this backend's runtime is installed and usable here."""
        return True

    @abstractmethod
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 [B,3,H,W] batch; return host arrays keyed 'player', 'offset', 'pif'."""

    def check_input(self, batch: object) -> np.ndarray:
        """Validate a batch against the spec; raise InputError naming the problem."""
        if not isinstance(batch, np.ndarray):
            raise InputError(f"input: expected a numpy float32 array, got {type(batch).__name__}")
        h, w = self.spec.input.height, self.spec.input.width
        if batch.dtype != np.float32:
            raise InputError(f"input: expected dtype float32, got {batch.dtype} (use dsl_deploy.preprocess)")
        if batch.ndim != 4 or batch.shape[1:] != (3, h, w) or batch.shape[0] < 1:
            raise InputError(f"input: expected shape (B, 3, {h}, {w}), got {tuple(batch.shape)}")
        return np.ascontiguousarray(batch)

    def close(self) -> None:
        """Release sessions, buffers and streams."""

    def __enter__(self: B) -> B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
