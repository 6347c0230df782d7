"""The host-side work around the network, as a capture box pays it: broadcast-size synthetic frames, the ideal
fields of their scenes at the network input, and the two host paths measured side by side (today's and the
fast one: the resize, the mask mapping and the serialisation differ; the decoder is the same)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..backends.base import Backend
from ..errors import InputError
from ..result import FrameResult
from ..spec import ModelSpec

# Pipeline options of each host path. 'today': INTER_AREA resize, frame-size label map, RLE from it in NumPy.
# 'fast' (the defaults): box-linear resize, RLE computed natively from the network labels, no frame-size map.
HOST_PATHS: dict[str, dict[str, str]] = {
    "today": {"resize": "area", "labels": "dense"},
    "fast": {"resize": "box-linear", "labels": "frame"},
}
HOST_STAGES = ("preprocess", "decode", "map", "serialise")


def parse_frame_size(text: str, spec: ModelSpec | None = None, option: str = "--frame-size") -> tuple[int, int]:
    """'WxH' -> (W, H); 'input' -> the network input size of `spec`."""
    if text == "input":
        if spec is None:
            raise InputError(f"{option}: 'input' needs a model to take the size from")
        return spec.input.width, spec.input.height
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{option}: expected WxH such as 1920x1080 (or 'input'), got {text!r}") from None
    if not (33 <= w <= 8192 and 33 <= h <= 8192):
        raise InputError(f"{option}: {w}x{h} is outside 33..8192 on a side")
    return w, h


@dataclass
class Scene:
    """One frame of a synthetic scene at the frame size, and its ideal fields at the network input."""

    frame: np.ndarray  # BGR uint8 [H, W, 3]
    fields: dict[str, np.ndarray]  # player, offset, pif (no batch dimension)
    annotation: Any  # data.annotations.Annotation at the frame size


def frame_order(paths: list[str], frames: int, block: int, interleave: str = "block") -> list[tuple[int, str]]:
    """(frame index, path) in the order a comparison runs them: the paths take turns every `block` frames
    ('block') or every frame ('frame'); each path sees frames 0..frames-1 once."""
    if interleave not in ("block", "frame"):
        raise ValueError(f"interleave: expected 'block' or 'frame', got {interleave!r}")
    step = max(1, block) if interleave == "block" else 1
    return [(i, name) for b0 in range(0, frames, step) for name in paths for i in range(b0, min(b0 + step, frames))]


def broadcast_scenes(spec: ModelSpec, width: int, height: int, *, players: int = 10, count: int = 8, seed: int = 0,
                     noise: float = 0.1) -> list[Scene]:
    """`count` synthetic scenes drawn at width x height with `players` each; fields of the letterboxed ground truth."""
    from ..data.augment import resize_to_input
    from ..data.encode import ideal_fields
    from ..data.synthetic import SyntheticScenes

    scenes = SyntheticScenes(seed, width, height, min_players=players, max_players=players)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        image, ann = scenes[i]
        _, ann_in = resize_to_input(image, ann, spec)
        out.append(Scene(image, ideal_fields(ann_in, spec, rng=rng, noise=noise), ann))
    return out


class SceneFields(Backend):
    """Stand-in network: returns the next scene's ideal fields (frames come in order); with `inner`, runs it first.

    Without `inner` the network costs nothing, so a Pipeline over it times only the host-side work.
    """

    def __init__(self, spec: ModelSpec, fields: list[Mapping[str, np.ndarray]], inner: Backend | None = None):
        self.spec, self.inner = spec, inner
        self.name = f"{inner.name}+scene-fields" if inner is not None else "scene-fields"
        if inner is not None:  # batches go on to the inner network as it takes them
            self.input_format = getattr(inner, "input_format", self.input_format)
        self._fields = [{k: np.asarray(v)[None] for k, v in f.items()} for f in fields]
        self._next = 0

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the inner network on `batch` if any; return the next scene's fields."""
        if self.inner is not None:
            self.inner.infer(batch)
        out = self._fields[self._next % len(self._fields)]
        self._next += 1
        return out

    def seek(self, index: int) -> None:
        """The next infer returns scene `index` (modulo the count)."""
        self._next = int(index)

    def close(self) -> None:
        """Close the inner backend."""
        if self.inner is not None:
            self.inner.close()


def serialise(result: FrameResult, index: int, source: str = "capture") -> bytes:
    """The JSON line a capture box emits for the frame (the JsonLinesSink line, masks as RLE)."""
    from ..runtime.sinks import json_line
    from ..runtime.sources import Frame

    return json_line(Frame(index, None, source, index / 25.0), result)  # type: ignore[arg-type]


def time_host(pipeline: Any, frame: np.ndarray, index: int) -> tuple[dict[str, float], FrameResult, bytes]:
    """One frame through `pipeline` (a stand-in network) and the serialiser: ms per stage, with 'host' their sum.

    Wall-clock ms per stage (Pipeline's timings), and 'host_cpu': the CPU time this thread spent on the whole
    frame, which leaves out the time another process held the core (on a shared machine).
    """
    c0 = time.thread_time()
    result = pipeline(frame)
    t0 = time.perf_counter()
    line = serialise(result, index)
    t1 = time.perf_counter()
    cpu = (time.thread_time() - c0) * 1e3
    ms = {k: float(result.timings[k]) for k in ("preprocess", "inference", "decode", "map")}
    ms["serialise"] = (t1 - t0) * 1e3
    ms["host"] = sum(ms[k] for k in HOST_STAGES)
    ms["host_cpu"] = cpu
    return ms, result, line


def cpu_stages(pipeline: Any, frame: np.ndarray, fields: Mapping[str, np.ndarray], index: int) -> dict[str, float]:
    """CPU ms of each host stage of `pipeline` run one by one on `frame` and its scene's `fields`."""
    from ..runtime.mapping import result_to_frame

    c0 = time.thread_time()
    _, boxes = pipeline.step._prep(frame)
    c1 = time.thread_time()
    decoded = pipeline.decoder(fields)
    c2 = time.thread_time()
    result = result_to_frame(decoded, boxes[0], labels=pipeline.labels)
    c3 = time.thread_time()
    serialise(result, index)
    c4 = time.thread_time()
    ms = {"preprocess": c1 - c0, "decode": c2 - c1, "map": c3 - c2, "serialise": c4 - c3}
    return {k: v * 1e3 for k, v in ms.items()}
