"""The one frame step: preprocess -> infer -> decode -> map to frame pixels.

`Pipeline.__call__` runs it whole; a `Stream` runs its parts in its stages (preprocess and inference in threads,
decode and map in the caller's thread); dsl-bench times the same parts one by one. So a frame takes one path
whichever way it arrives, and its timings mean the same everywhere: preprocess, inference, decode, decode.<stage>,
map, total (their sum).

When the backend hands its outputs over on the GPU (`Backend.device_outputs`: TensorRT, torch on CUDA) and the
decoder decodes device pointers (the CUDA decoder's `decode_device`), the fields never leave the GPU: inference
and decode run back to back on the backend's stream, and only the decoded players come to the host.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..backends.base import Backend
from ..errors import DslError, InputError
from ..limits import MAX_PIXELS, check_pixels
from ..preprocess import RESIZE_MODES, RUNTIME_RESIZE, Letterbox, Preprocessor, check_frame
from ..result import FrameResult
from ..spec import ModelSpec
from .mapping import LABEL_MODES, result_to_frame

DecoderFn = Callable[[Mapping[str, np.ndarray]], FrameResult]


def check_step_options(labels: str, resize: str, max_pixels: int) -> None:
    """InputError naming the first option of a frame step that is out of range."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise InputError(f"max_pixels: expected a positive number of pixels, got {max_pixels!r}")
    if labels not in LABEL_MODES:
        raise InputError(f"labels: expected one of {', '.join(LABEL_MODES)}, got {labels!r}")
    if resize not in RESIZE_MODES:
        raise InputError(f"resize: expected one of {', '.join(RESIZE_MODES)}, got {resize!r}")


def make_decoder(decoder: str | DecoderFn, spec: ModelSpec) -> DecoderFn:
    """A decoder for a name of `decode.IMPLS` (the CUDA one as CudaDecoder, so it can take device pointers), or
    the callable fields -> FrameResult given."""
    if callable(decoder):
        return decoder
    if not isinstance(decoder, str):
        raise InputError(f"decoder: expected an implementation name or a callable, got {type(decoder).__name__}")
    from ..decode import Decoder, resolve_impl  # the decoder package picks native / CUDA / NumPy for "auto"

    if resolve_impl(decoder) == "cuda":
        from ..decode.cuda import CudaDecoder  # what Decoder(impl="cuda") runs, with decode_device besides
        return CudaDecoder(spec)
    return Decoder(spec, impl=decoder)


@dataclass
class Inferred:
    """A batch after inference: the host fields, or (fields kept on the GPU) its frames decoded there."""

    fields: Mapping[str, np.ndarray] | None
    ms: float  # inference
    decoded: list[FrameResult] | None = None
    decode_ms: list[float] = field(default_factory=list)


class FrameStep:
    """Preprocess, infer, decode and map frames with one backend and one decoder (see the module doc).

    `decoder`: a name of `decode.IMPLS` or a callable fields -> FrameResult; `decoder_params` override the
    backend spec's decoder parameters. `labels` and `resize`: see `mapping.result_to_frame` and
    `preprocess.RESIZE_MODES`. `max_pixels`: the largest frame accepted. `device_handoff`: None passes the
    fields on the GPU whenever the backend and the decoder can, False never.
    """

    def __init__(self, backend: Backend, decoder: str | DecoderFn = "auto", *, labels: str = "frame",
                 resize: str = RUNTIME_RESIZE, max_pixels: int = MAX_PIXELS,
                 decoder_params: Mapping[str, Any] | None = None, device_handoff: bool | None = None):
        check_step_options(labels, resize, max_pixels)
        self.backend = backend
        self.spec: ModelSpec = backend.spec.with_decoder(decoder_params)
        self.decoder = make_decoder(decoder, self.spec)
        self.labels, self.resize, self.max_pixels = labels, resize, max_pixels
        can = bool(getattr(backend, "device_outputs", False)) and callable(getattr(self.decoder, "decode_device",
                                                                                   None))
        self.on_device = can and device_handoff is not False
        self._prep = self.preprocessor()

    def __call__(self, frame: np.ndarray) -> FrameResult:
        """One BGR uint8 frame (H x W x 3, or grey H x W) -> FrameResult in frame pixels, with timings in ms."""
        batch, boxes, pre_ms = self.preprocess(frame)
        return self.finish(self.infer(batch), 0, boxes[0], {"preprocess": pre_ms})

    def preprocessor(self) -> Preprocessor:
        """A new Preprocessor for this step (its batch buffer is reused: one per thread or buffer in flight); its
        output is what the backend takes (letterboxed uint8 frames for a model that normalises in its graph)."""
        return Preprocessor(self.spec, resize=self.resize, output=self.backend.preprocess_output)

    def preprocess(self, frames: np.ndarray | Sequence[np.ndarray], prep: Preprocessor | None = None
                   ) -> tuple[np.ndarray, list[Letterbox], float]:
        """Check frames (uint8 BGR or grey, within max_pixels) and letterbox them: (batch, letterboxes, ms)."""
        t0 = time.perf_counter()
        single = not isinstance(frames, (list, tuple))  # one frame (check_frame says what is wrong with it)
        checked = [check_frame(f) for f in ([frames] if single else frames)]
        for f in checked:
            check_pixels(f.shape[1], f.shape[0], self.max_pixels, "frame")
        batch, boxes = (prep or self._prep)(checked[0] if single else checked)
        return batch, boxes, (time.perf_counter() - t0) * 1e3

    def infer(self, batch: np.ndarray, *, keep: bool = False) -> Inferred:
        """Run the backend on a batch; on the device path also decode its frames there. `keep`: the host fields
        are kept past the next call (copied when the backend reuses its output arrays)."""
        t0 = time.perf_counter()
        if not self.on_device:
            fields = self.backend.infer(batch)
            if keep and self.backend.reuses_outputs:
                fields = {k: np.array(v, copy=True) for k, v in fields.items()}
            return Inferred(fields, (time.perf_counter() - t0) * 1e3)
        out = self.backend.infer_device(batch)
        inferred = Inferred(None, (time.perf_counter() - t0) * 1e3, decoded=[])
        decode_device = getattr(self.decoder, "decode_device")
        for i in range(batch.shape[0]):  # on the backend's stream, before its next call reuses the buffers
            t1 = time.perf_counter()
            inferred.decoded.append(decode_device(out.pointers, out.stream, frame=i))  # type: ignore[union-attr]
            inferred.decode_ms.append((time.perf_counter() - t1) * 1e3)
        return inferred

    def frame_fields(self, fields: Mapping[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
        """Frame `index` of a batch's host fields (the spec's outputs, without the batch dimension)."""
        one = {}
        for name in self.spec.outputs:
            if name not in fields:
                raise DslError(f"backend {getattr(self.backend, 'name', '?')}: output '{name}' is missing "
                               f"(got {sorted(fields)})")
            one[name] = fields[name][index]
        return one

    def decode(self, fields: Mapping[str, np.ndarray]) -> tuple[FrameResult, float]:
        """One frame's fields -> (FrameResult at the network input, ms)."""
        t0 = time.perf_counter()
        result = self.decoder(fields)
        return result, (time.perf_counter() - t0) * 1e3

    def to_frame(self, result: FrameResult, lb: Letterbox) -> tuple[FrameResult, float]:
        """A decoded result mapped to the frame's pixels (see `mapping.result_to_frame`), and the ms it took."""
        t0 = time.perf_counter()
        mapped = result_to_frame(result, lb, labels=self.labels)
        return mapped, (time.perf_counter() - t0) * 1e3

    def finish(self, inferred: Inferred, index: int, lb: Letterbox, timings: Mapping[str, float]) -> FrameResult:
        """Decode frame `index` of an inferred batch (unless decoded on the GPU), map it to the frame and complete
        its timings: those given (preprocess), inference, decode, decode.<stage>, map, total."""
        if inferred.decoded is not None:
            decoded, decode_ms = inferred.decoded[index], inferred.decode_ms[index]
        else:
            assert inferred.fields is not None
            decoded, decode_ms = self.decode(self.frame_fields(inferred.fields, index))
        result, map_ms = self.to_frame(decoded, lb)
        out = dict(timings)
        out.setdefault("inference", inferred.ms)
        out["decode"] = decode_ms
        for k, v in decoded.timings.items():
            out[k if k.startswith("decode.") else f"decode.{k}"] = float(v)
        out["map"] = map_ms
        out["total"] = out.get("preprocess", 0.0) + out["inference"] + out["decode"] + out["map"]
        result.timings = out
        return result
