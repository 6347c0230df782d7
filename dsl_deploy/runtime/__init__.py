"""Capture-box runtime: Pipeline (frame -> FrameResult in frame pixels) and the FrameStep it runs, sources, pipelined
streams, sinks.

The names below load on first use, so a module that needs only `runtime.outputs` (the atomic write) does not
pull OpenCV, the sources and the pipeline with it.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frame_step import FrameStep
    from .pipeline import Pipeline
    from .sources import Frame, Reconnect, Source, open_source
    from .stats import StreamStats
    from .stream import Stream

_HOMES = {"Pipeline": "pipeline", "FrameStep": "frame_step", "Stream": "stream", "StreamStats": "stats",
          "Frame": "sources", "Source": "sources", "Reconnect": "sources", "open_source": "sources"}

__all__ = ["Pipeline", "FrameStep", "Stream", "StreamStats", "Frame", "Source", "Reconnect", "open_source"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
