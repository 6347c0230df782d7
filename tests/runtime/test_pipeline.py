"""Pipeline: results in frame pixels for frames of any size, timings, bad input, streams (order, drops, faults)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dsl_deploy import Pipeline
from dsl_deploy.backends import load_backend
from dsl_deploy.backends.base import Backend
from dsl_deploy.decode import Decoder
from dsl_deploy.errors import ArtifactError, DslError, InputError


@pytest.fixture(scope="module")
def pipe(fake_onnx: Path):
    with Pipeline(fake_onnx) as p:
        yield p


def _match(result, discs, tol):
    """For each disc (x, y, r): the player whose centre is nearest; check centre, box and area."""
    assert result.num_players == len(discs)
    for x, y, r in discs:
        i = int(np.argmin(np.hypot(result.centers[:, 0] - x, result.centers[:, 1] - y)))
        np.testing.assert_allclose(result.centers[i], (x, y), atol=tol)
        np.testing.assert_allclose(result.boxes[i], (x - r, y - r, x + r + 1, y + r + 1), atol=tol)
        assert result.areas[i] == pytest.approx(np.pi * r * r, rel=0.15)
        assert result.mask(i)[y, x]  # the disc centre pixel belongs to that player, in frame pixels


@pytest.mark.parametrize("width,height,discs", [
    (258, 160, [(200, 60, 18), (60, 100, 20)]),  # wide: letterboxed top and bottom, scale 1/2
    (100, 300, [(50, 80, 24)]),  # tall: letterboxed left and right
    (129, 129, [(64, 64, 12)]),  # the network size: identity mapping
])
def test_results_are_in_frame_pixels(pipe, disc_frame, width, height, discs):
    result = pipe(disc_frame(width, height, discs))
    assert result.labels.shape == (height, width)
    scale = min(129 / width, 129 / height)
    _match(result, discs, tol=1.5 / scale + 1)
    assert result.ball is not None
    assert min(np.hypot(result.ball.x - x, result.ball.y - y) for x, y, _ in discs) < 1.5 / scale + 1
    d = result.to_dict()
    assert d["size"] == [height, width] and len(d["players"]) == len(discs)
    assert {"id", "score", "bbox", "mask", "keypoints"} <= set(d["players"][0])
    assert len(d["players"][0]["keypoints"]) == 17


def test_timings_cover_every_stage(pipe, disc_frame):
    t = pipe(disc_frame(200, 100, [(100, 50, 10)])).timings
    for k in ("preprocess", "inference", "decode", "map", "total"):
        assert t[k] >= 0.0
    assert any(k.startswith("decode.") for k in t)  # the decoder's own sub-stages
    assert t["total"] == pytest.approx(t["preprocess"] + t["inference"] + t["decode"] + t["map"])


@pytest.mark.parametrize("frame,match", [
    (np.zeros((50, 60, 3), np.float32), "dtype"),
    (np.zeros((50, 60, 5), np.uint8), "shape"),
    (np.zeros((0, 60, 3), np.uint8), "empty"),
    (np.zeros((2, 50, 60, 3), np.uint8), "shape"),
    (None, "numpy array"),
    ([[1, 2, 3]], "numpy array"),
])
def test_bad_frames_raise_input_error(pipe, frame, match):
    with pytest.raises(InputError, match=match):
        pipe(frame)


def test_grey_frames_are_accepted(pipe):
    assert pipe(np.zeros((90, 120), np.uint8)).labels.shape == (90, 120)


def test_bad_construction(tmp_path: Path, fake_onnx: Path):
    with pytest.raises(ArtifactError, match="unknown artifact type"):
        Pipeline(tmp_path / "model.tflite")
    with pytest.raises(ArtifactError, match="no such file"):
        Pipeline(tmp_path / "missing.onnx")
    with pytest.raises(InputError, match="labels"):
        Pipeline(fake_onnx, labels="everything")
    with pytest.raises(InputError, match="threads"):
        Pipeline(fake_onnx, threads=0)
    with pytest.raises(InputError, match="artifact"):
        Pipeline(42)
    with pytest.raises(InputError, match="impl"):
        Pipeline(fake_onnx, decoder="fastest")


def test_backend_object_custom_decoder_and_close(fake_onnx: Path, disc_frame):
    backend = load_backend(fake_onnx)
    reference = Decoder(backend.spec, impl="numpy")
    calls = []

    def decoder(fields):
        calls.append(fields["pif"].shape)
        return reference(fields)

    with Pipeline(backend, decoder=decoder, labels="crop") as p:
        r = p(disc_frame(258, 160, [(100, 80, 20)]))
    assert calls == [(19, 5, 17, 17)]  # one frame's fields, without the batch dimension
    assert r.labels.shape == (80, 129) and r.num_players == 1
    assert backend.infer(np.zeros((1, 3, 129, 129), np.float32))["player"].shape == (1, 1, 129, 129)  # not closed
    with pytest.raises(DslError, match="closed"):
        p(disc_frame(10, 10, []))


class _Wrapped(Backend):
    """Delegates to a real backend; optionally fails on the n-th call or sleeps (a slow network)."""

    def __init__(self, inner: Backend, fail_at: int | None = None, sleep: float = 0.0):
        self.inner, self.spec, self.name = inner, inner.spec, inner.name
        self.fail_at, self.sleep, self.calls = fail_at, sleep, 0

    def _infer(self, batch):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("device lost")
        if self.sleep:
            time.sleep(self.sleep)
        return self.inner.infer(batch)


def _dsl_threads():
    return [t for t in threading.enumerate() if t.name.startswith("dsl-")]


def test_stream_keeps_every_frame_in_order(pipe, disc_video: Path, disc_positions):
    stream = pipe.stream(disc_video, with_frames=True)
    items = list(stream)
    assert [f.index for f, _ in items] == list(range(24))
    assert [r.frame_index for _, r in items] == list(range(24))
    for frame, result in items[::6]:
        _match(result, disc_positions(frame.index), tol=4)
        single = pipe(frame.image)
        np.testing.assert_array_equal(single.labels, result.labels)  # same answer as one call
    assert items[3][1].timestamp == pytest.approx(3 / 25.0, abs=1e-3)
    assert {"preprocess", "inference", "decode", "total", "latency"} <= set(items[0][1].timings)
    s = stream.stats
    assert (s.frames, s.read, s.dropped, s.corrupt) == (24, 24, 0, 0) and s.fps > 0
    assert not _dsl_threads()


def test_stream_skips_and_counts_corrupt_frames(pipe, disc_frame):
    good = disc_frame(120, 80, [(60, 40, 10)])
    frames = [good, np.zeros((10, 10), np.float64), good, np.zeros((0, 5, 3), np.uint8), None, good]
    seen = []
    stream = pipe.stream(frames, on_corrupt=seen.append)
    assert [r.frame_index for r in stream] == [0, 2, 5]
    assert stream.stats.corrupt == 3 and len(seen) == 3
    assert any("frame 1" in m and "dtype" in m for m in seen)
    assert any("frame 4" in m and "None" in m for m in seen)


def test_live_stream_drops_the_oldest_and_accounts_for_every_frame(fake_onnx: Path, disc_frame):
    slow = _Wrapped(load_backend(fake_onnx), sleep=0.01)
    frames = [disc_frame(120, 80, [(60, 40, 10)])] * 150
    with Pipeline(slow) as p:
        stream = p.stream(frames, live=True, queue=2)
        indices = [r.frame_index for r in stream]
    s = stream.stats
    assert s.read == 150 and s.dropped > 0
    assert s.frames + s.dropped == s.read == len(indices) + s.dropped
    assert indices == sorted(set(indices))  # in order, none twice
    assert indices[-1] == 149  # the newest frame is never the one dropped


def test_stop_ends_cleanly_and_close_aborts(pipe, disc_video: Path):
    stream = pipe.stream(disc_video)
    got = []
    for r in stream:
        got.append(r.frame_index)
        if len(got) == 3:
            stream.stop()
    assert got == list(range(len(got))) and 3 <= len(got) < 24  # in-flight frames were still emitted
    stream = pipe.stream(disc_video, max_frames=10)
    assert next(stream).frame_index == 0
    stream.close()
    assert list(stream) == [] and not _dsl_threads()
    assert [r.frame_index for r in pipe.stream(disc_video, max_frames=5)] == [0, 1, 2, 3, 4]


def test_a_backend_failure_reaches_the_caller(fake_onnx: Path, disc_video: Path):
    with Pipeline(_Wrapped(load_backend(fake_onnx), fail_at=4)) as p:
        stream = p.stream(disc_video)
        got = []
        with pytest.raises(RuntimeError, match="device lost"):
            for r in stream:
                got.append(r.frame_index)
    assert got == [0, 1, 2]
    assert not _dsl_threads()


def test_decode_failures_are_counted_not_fatal(fake_onnx: Path, disc_frame):
    backend = load_backend(fake_onnx)
    reference = Decoder(backend.spec)
    n = [0]

    def flaky(fields):
        n[0] += 1
        if n[0] == 2:
            raise InputError("pif: NaN in the fields")
        return reference(fields)

    with Pipeline(backend, decoder=flaky) as p:
        stream = p.stream([disc_frame(64, 64, [(30, 30, 8)])] * 4)
        assert [r.frame_index for r in stream] == [0, 2, 3]
    assert stream.stats.corrupt == 1


def test_runtime_and_cli_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import dsl_deploy.runtime, dsl_deploy.runtime.sinks, dsl_deploy.runtime.render, dsl_deploy.cli.infer\n"
            "from dsl_deploy import Pipeline\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'onnx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['torch']"  # only the blocker entry itself


def test_threads_only_for_onnx_and_lazy_threads(tmp_path: Path, pipe, disc_video: Path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    with pytest.raises(InputError, match="m.engine runs on tensorrt: threads applies to onnxruntime and openvino only"):
        Pipeline(engine, threads=2)
    stream = pipe.stream(disc_video)
    assert not _dsl_threads()  # nothing runs until the stream is iterated
    stream.close()
    assert not _dsl_threads()


def test_an_abandoned_stream_stops_its_threads(pipe, disc_video: Path):
    import gc

    stream = pipe.stream(disc_video)
    next(stream)
    assert _dsl_threads()
    del stream  # the caller walks away without close()
    gc.collect()
    deadline = time.monotonic() + 5
    while _dsl_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _dsl_threads()
