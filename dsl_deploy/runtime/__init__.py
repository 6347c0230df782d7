"""Capture-box runtime: Pipeline (frame -> FrameResult in frame pixels), sources, pipelined streams, sinks."""
from __future__ import annotations

from .pipeline import Pipeline
from .sources import Frame, Reconnect, Source, open_source
from .stats import StreamStats
from .stream import Stream

__all__ = ["Pipeline", "Stream", "StreamStats", "Frame", "Source", "Reconnect", "open_source"]
