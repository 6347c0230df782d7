"""Pipeline: frame in, FrameResult in frame pixels out; any artifact, any decoder, one call or a stream."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..backends import artifact_kind, load_backend
from ..backends.base import Backend
from ..errors import DslError, InputError
from ..limits import MAX_PIXELS, check_pixels
from ..preprocess import RESIZE_MODES, RUNTIME_RESIZE, Letterbox, Preprocessor, check_frame
from ..result import FrameResult
from ..spec import ModelSpec
from .mapping import LABEL_MODES, result_to_frame
from .sources import Reconnect, Source, open_source
from .stream import Stream

DecoderFn = Callable[[Mapping[str, np.ndarray]], FrameResult]


def _make_decoder(decoder: "str | DecoderFn", spec: ModelSpec) -> DecoderFn:
    if callable(decoder):
        return decoder
    if not isinstance(decoder, str):
        raise InputError(f"decoder: expected an implementation name or a callable, got {type(decoder).__name__}")
    from ..decode import Decoder  # the decoder package picks native / CUDA / NumPy for "auto"
    return Decoder(spec, impl=decoder)


class Pipeline:
    """Preprocess, infer and decode frames with one artifact; results come back in frame coordinates.

    `artifact` is a path to a .onnx, .engine or .pth file (opened with `load_backend`, its ModelSpec
    read from the artifact) or a Backend already open. `decoder` names the decode implementation
    ("auto", "numpy", "native", "cuda") or is a callable fields -> FrameResult. `threads` and
    `providers` go to the ONNX Runtime backend. `labels` is "frame" (the label map resized to the
    frame: masks and areas in frame pixels, as run lengths computed natively, the frame-size map built only
    if read), "dense" (the same masks, the frame-size map built at once) or "crop" (kept at network
    resolution, cropped to the letterboxed content; see `mapping.result_to_frame`). `resize` is how frames
    are shrunk into the input (default "box-linear"; see `preprocess.RESIZE_MODES`). `decoder_params`
    overrides decoder parameters of the artifact's spec for this pipeline (DecoderSpec field names, e.g.
    {"nms_window": 9}). `max_pixels` is the largest frame accepted (width x height; see dsl_deploy.limits).

    `pipeline(frame)` runs one BGR uint8 frame; `pipeline.stream(source)` runs a source pipelined in
    threads. A Pipeline runs one call or one stream at a time. `close()` releases the backend when the
    pipeline opened it.
    """

    def __init__(self, artifact: "str | Path | Backend", *, decoder: "str | DecoderFn" = "auto",
                 threads: int | None = None, providers: list[str] | None = None, labels: str = "frame",
                 resize: str = RUNTIME_RESIZE,
                 decoder_params: Mapping[str, Any] | None = None, max_pixels: int = MAX_PIXELS):
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise InputError(f"max_pixels: expected a positive number of pixels, got {max_pixels!r}")
        self.max_pixels = max_pixels
        if labels not in LABEL_MODES:
            raise InputError(f"labels: expected one of {', '.join(LABEL_MODES)}, got {labels!r}")
        if resize not in RESIZE_MODES:
            raise InputError(f"resize: expected one of {', '.join(RESIZE_MODES)}, got {resize!r}")
        if threads is not None and threads < 1:
            raise InputError(f"threads: expected a positive count, got {threads}")
        if isinstance(artifact, Backend):
            self.backend, self._owns_backend = artifact, False
        elif isinstance(artifact, (str, Path)):
            if (threads is not None or providers is not None) and artifact_kind(artifact) != "onnx":
                raise InputError(f"{artifact}: threads and providers apply to ONNX Runtime (.onnx models) only")
            options: dict[str, Any] = {}
            if threads is not None:
                options["threads"] = threads
            if providers is not None:
                options["providers"] = providers
            self.backend, self._owns_backend = load_backend(artifact, **options), True
        else:
            raise InputError(f"artifact: expected a path to a .onnx/.engine/.pth file or a Backend, got "
                             f"{type(artifact).__name__}")
        self.labels = labels
        try:
            self.spec: ModelSpec = self.backend.spec.with_decoder(decoder_params)
            self.decoder = _make_decoder(decoder, self.spec)
        except BaseException:
            self.close()
            raise
        self.resize = resize
        self._prep = Preprocessor(self.spec, resize=resize)
        self._closed = False

    @property
    def backend_reuses_outputs(self) -> bool:
        """Whether the backend may overwrite its output arrays on the next infer (then the stream copies)."""
        return bool(self.backend.reuses_outputs)

    def __call__(self, frame: np.ndarray) -> FrameResult:
        """One BGR uint8 frame (H x W x 3, or grey H x W) -> FrameResult in frame pixels, with timings in ms."""
        self._check_open()
        t0 = time.perf_counter()
        frame = check_frame(frame)
        check_pixels(frame.shape[1], frame.shape[0], self.max_pixels, "frame")
        batch, boxes = self._prep(frame)
        t1 = time.perf_counter()
        fields = self.backend.infer(batch)
        t2 = time.perf_counter()
        return self._finish(fields, boxes[0], {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3})

    def _finish(self, fields: Mapping[str, np.ndarray], lb: Letterbox, timings: dict[str, float]) -> FrameResult:
        """Decode one image's fields (batch index 0), map to the frame, and complete the timings."""
        t0 = time.perf_counter()
        one = {}
        for name in self.spec.outputs:
            if name not in fields:
                raise DslError(f"backend {getattr(self.backend, 'name', '?')}: output '{name}' is missing "
                               f"(got {sorted(fields)})")
            one[name] = fields[name][0]
        decoded = self.decoder(one)
        t1 = time.perf_counter()
        result = result_to_frame(decoded, lb, labels=self.labels)
        t2 = time.perf_counter()
        out = dict(timings)
        out["decode"] = (t1 - t0) * 1e3
        for k, v in decoded.timings.items():
            out[k if k.startswith("decode.") else f"decode.{k}"] = float(v)
        out["map"] = (t2 - t1) * 1e3
        out["total"] = out.get("preprocess", 0.0) + out.get("inference", 0.0) + out["decode"] + out["map"]
        result.timings = out
        return result

    def stream(self, source: "str | int | Path | Source | Iterable[np.ndarray]", *, queue: int = 4,
               max_frames: int | None = None, live: bool | None = None, reconnect: Reconnect = Reconnect(),
               with_frames: bool = False, stop: threading.Event | None = None,
               on_corrupt: Callable[[str], None] | None = None) -> Stream:
        """Run a source pipelined in threads; iterate the returned Stream for FrameResults in source order.

        `source`: an image, a folder, a video file, a camera index, a URL (see `open_source`), a Source or
        an iterable of frames. `queue`: capture queue size; for live sources it drops the oldest frame
        when full and counts it in `stream.stats.dropped`. `max_frames`: stop after that many frames
        read. `live` forces live behaviour on or off. `reconnect`: back-off for live sources that stop.
        `with_frames`: yield (Frame, FrameResult) pairs. `stop`: an Event that ends the stream cleanly
        when set (e.g. from a signal handler). `on_corrupt(message)` is called for every skipped frame.
        """
        self._check_open()
        src = open_source(source, live=live, reconnect=reconnect, max_pixels=self.max_pixels)
        return Stream(self, src, queue=queue, max_frames=max_frames, with_frames=with_frames, stop=stop,
                      on_corrupt=on_corrupt)

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise DslError("pipeline: already closed")

    def close(self) -> None:
        """Release the backend if this pipeline opened it."""
        self._closed = True
        if getattr(self, "_owns_backend", False):
            self.backend.close()
            self._owns_backend = False

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
