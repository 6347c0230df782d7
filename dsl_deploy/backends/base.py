"""Backend contract: a batch of preprocessed inputs in, the network's named output fields out.

Every backend declares what it can do, so no caller guesses from its name or probes attributes:

- `reuses_outputs`: the arrays `infer` returns may be overwritten by the next call (a caller that keeps them
  past the next call copies them first);
- `last_timings`: ms of the last call's parts (e.g. TensorRT's h2d_ms, compute_ms, d2h_ms, host_ms; empty when the
  backend times nothing);
- `device_outputs`: `infer_device` leaves the outputs on the GPU and hands over `DeviceFields` (device pointers
  and the CUDA stream they are ready on), for a consumer on the GPU such as the CUDA decoder;
- `input_format`: what a batch is, read from the artifact: "float-nchw" (normalised float32 [B,3,H,W], the default)
  or "uint8-nhwc-bgr" (letterboxed BGR uint8 [B,H,W,3], for a graph that normalises itself: dsl-export
  --uint8-input); `preprocess_output` is the matching `Preprocessor(output=...)`.

As Polygraphy's runners do, the base `infer` checks the batch once and then calls the backend's own `_infer`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ..errors import BackendUnavailable, InputError
from ..export.metadata import INPUT_FLOAT, INPUT_FORMATS, INPUT_UINT8
from ..spec import ModelSpec

B = TypeVar("B", bound="Backend")


@dataclass
class DeviceFields:
    """A batch's outputs left on the GPU: float32 device pointers by output name ([B, ...] in the spec's shapes,
    C-contiguous), the CUDA stream (cudaStream_t as an int, 0: the default stream) the work was queued on, and
    `keep`: whatever owns that memory (it must stay referenced while the pointers are read)."""

    pointers: dict[str, int]
    stream: int = 0
    keep: Any = field(default=None, repr=False)


class Backend(ABC):
    """One way to run the network. Knows shapes and names, not what the fields mean."""

    name: str = "backend"
    spec: ModelSpec
    #: True when `infer`'s arrays are overwritten by the next call (pinned or static buffers handed out as they are).
    reuses_outputs: bool = False
    #: True when `infer_device` hands the outputs over on the GPU.
    device_outputs: bool = False
    #: What a batch is: "float-nchw" or "uint8-nhwc-bgr" (export.metadata.INPUT_FORMATS).
    input_format: str = INPUT_FLOAT

    @classmethod
    def is_available(cls) -> bool:
        """Whether this backend's runtime is installed and usable here."""
        return True

    @property
    def last_timings(self) -> dict[str, float]:
        """ms of the parts of the last call (keys are the backend's own); empty when it times nothing."""
        return self.__dict__.setdefault("_last_timings", {})

    @last_timings.setter
    def last_timings(self, value: dict[str, float]) -> None:
        self.__dict__["_last_timings"] = value

    @property
    def preprocess_output(self) -> str:
        """The `Preprocessor` output this backend's batches are: 'float' or 'uint8' (see `input_format`)."""
        return "uint8" if self.input_format == INPUT_UINT8 else "float"

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a batch in `input_format` (checked once here); host arrays keyed by output name."""
        return self._infer(self.check_input(batch))

    @abstractmethod
    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The backend's own inference of a checked, C-contiguous batch in `input_format`."""

    def infer_device(self, batch: np.ndarray) -> DeviceFields:
        """Run a batch in `input_format` (checked once here) and leave the outputs on the GPU; valid until the
        next call. BackendUnavailable when this backend has no device outputs (`device_outputs` is False)."""
        if not self.device_outputs:
            raise BackendUnavailable(f"{self.name}: this backend's outputs are host arrays only (device_outputs is "
                                     "False); use infer()")
        return self._infer_device(self.check_input(batch))

    def _infer_device(self, batch: np.ndarray) -> DeviceFields:
        """The backend's own device inference (backends with `device_outputs` define it)."""
        raise NotImplementedError(f"{type(self).__name__} declares device_outputs but has no _infer_device")

    def check_input(self, batch: object) -> np.ndarray:
        """Validate a batch against the spec and `input_format`; raise InputError naming the problem."""
        h, w = self.spec.input.height, self.spec.input.width
        if self.input_format == INPUT_UINT8:
            # A graph that normalises itself (dsl-export --uint8-input): the letterboxed frames as they are.
            what, dtype, shape = "uint8 BGR frames", np.uint8, (h, w, 3)
            hint = "this model normalises in its graph: use Preprocessor(spec, output='uint8')"
        elif self.input_format == INPUT_FLOAT:
            what, dtype, shape = "float32 array", np.float32, (3, h, w)
            hint = "use dsl_deploy.preprocess"
        else:
            raise InputError(f"{self.name}: input_format {self.input_format!r} is not one of "
                             f"{', '.join(INPUT_FORMATS)}")
        if not isinstance(batch, np.ndarray):
            raise InputError(f"input: expected a numpy {what}, got {type(batch).__name__}")
        if batch.dtype != dtype:
            raise InputError(f"input: expected dtype {np.dtype(dtype)}, got {batch.dtype} ({hint})")
        if batch.ndim != 4 or batch.shape[1:] != shape or batch.shape[0] < 1:
            dims = ", ".join(str(d) for d in shape)
            raise InputError(f"input: expected shape (B, {dims}), got {tuple(batch.shape)} ({hint})")
        return np.ascontiguousarray(batch)

    def close(self) -> None:
        """Release sessions, buffers and streams."""

    def __enter__(self: B) -> B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
