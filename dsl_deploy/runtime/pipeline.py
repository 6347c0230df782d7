"""Pipeline: frame in, FrameResult in frame pixels out; any artifact, any decoder, one call or a stream."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..backends import backend_options, load_backend
from ..backends.base import Backend
from ..errors import DslError, InputError
from ..limits import MAX_PIXELS
from ..preprocess import RUNTIME_RESIZE
from ..result import FrameResult
from ..spec import ModelSpec
from .frame_step import DecoderFn, FrameStep, check_step_options
from .sources import Reconnect, Source, open_source
from .stream import Stream

__all__ = ["Pipeline", "DecoderFn"]


class Pipeline:
    """Preprocess, infer and decode frames with one artifact; results come back in frame coordinates.

    `artifact` is a path to a .onnx, .engine or .pth file (opened with `load_backend`, its ModelSpec
    read from the artifact) or a Backend already open. `decoder` names the decode implementation
    (a name of `decode.IMPLS`: "auto", "native", "numpy", "cuda") or is a callable fields -> FrameResult.
    `backend` names the runtime of a path (`backends.RUNTIMES`: a .onnx file runs on "onnxruntime", the default, or
    "openvino"); `threads` go to either, `providers` to ONNX Runtime, `precision_hint` to OpenVINO. `labels` is
    "frame" (the label map resized to the frame: masks and areas in frame pixels, as run lengths computed
    natively, the frame-size map built only if read), "dense" (the same masks, the frame-size map built at
    once) or "crop" (kept at network resolution, cropped to the letterboxed content; see
    `mapping.result_to_frame`). `resize` is how frames are shrunk into the input (default "box-linear"; see
    `preprocess.RESIZE_MODES`). `decoder_params` overrides decoder parameters of the artifact's spec for this
    pipeline (DecoderSpec field names, e.g. {"nms_window": 9}). `max_pixels` is the largest frame accepted
    (width x height; see dsl_deploy.limits).

    `pipeline(frame)` runs one BGR uint8 frame and `pipeline.stream(source)` a source pipelined in threads,
    both through one `FrameStep` (`pipeline.step`). A Pipeline runs one call or one stream at a time.
    `close()` releases the backend when the pipeline opened it.
    """

    def __init__(self, artifact: "str | Path | Backend", *, decoder: "str | DecoderFn" = "auto",
                 threads: int | None = None, providers: list[str] | None = None, labels: str = "frame",
                 resize: str = RUNTIME_RESIZE, backend: str | None = None, precision_hint: str | None = None,
                 decoder_params: Mapping[str, Any] | None = None, max_pixels: int = MAX_PIXELS):
        check_step_options(labels, resize, max_pixels)  # before any file is opened
        if threads is not None and threads < 1:
            raise InputError(f"threads: expected a positive count, got {threads}")
        if isinstance(artifact, Backend):
            if backend is not None or precision_hint is not None:
                raise InputError("backend and precision_hint choose how a path is opened; this backend is open")
            self.backend, self._owns_backend = artifact, False
        elif isinstance(artifact, (str, Path)):
            options = backend_options(artifact, backend, threads=threads, providers=providers,
                                      precision_hint=precision_hint)
            self.backend, self._owns_backend = load_backend(artifact, backend, **options), True
        else:
            raise InputError(f"artifact: expected a path to a .onnx/.engine/.pth file or a Backend, got "
                             f"{type(artifact).__name__}")
        try:
            self.step = FrameStep(self.backend, decoder, labels=labels, resize=resize, max_pixels=max_pixels,
                                  decoder_params=decoder_params)
        except BaseException:
            self.close()
            raise
        # What the step runs with: the artifact's spec with this pipeline's decoder parameters, the decoder.
        self.spec: ModelSpec = self.step.spec
        self.decoder: DecoderFn = self.step.decoder
        self.labels, self.resize, self.max_pixels = labels, resize, max_pixels
        self._closed = False

    def __call__(self, frame: np.ndarray) -> FrameResult:
        """One BGR uint8 frame (H x W x 3, or grey H x W) -> FrameResult in frame pixels, with timings in ms."""
        self._check_open()
        return self.step(frame)

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
        return Stream(self.step, src, queue=queue, max_frames=max_frames, with_frames=with_frames, stop=stop,
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
