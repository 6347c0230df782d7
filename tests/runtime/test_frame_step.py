"""FrameStep: the one path of a frame (Pipeline, streams, dsl-bench), and fields kept on the GPU when they can be."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.backends import load_backend
from dsl_deploy.backends.base import Backend, DeviceFields
from dsl_deploy.bench.host import broadcast_scenes
from dsl_deploy.decode import cuda
from dsl_deploy.result import Ball, FrameResult
from dsl_deploy.runtime import FrameStep, Pipeline, Stream, open_source
from dsl_deploy.spec import default_spec
from dsl_testing.cuda_emulation import DeviceArena, emulated_library_or_skip

SPEC = default_spec("resnet18", 129)


class _Engine(Backend):
    """Stands in for a TensorRT engine: its "device buffers" hold given fields, handed out as pointers on stream 7
    (host addresses: what a device pointer is in the CPU emulation of the CUDA decoder)."""

    device_outputs = True

    def __init__(self, fields: dict[str, np.ndarray], stream: int = 7):
        self.spec, self.name, self.stream, self.calls = SPEC, "fake-engine", stream, []
        self._one = {k: np.ascontiguousarray(v, np.float32)[None] for k, v in fields.items()}

    def _batch(self, b: int) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(np.repeat(v, b, axis=0)) for k, v in self._one.items()}

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls.append(("host", batch.shape[0]))
        return self._batch(batch.shape[0])

    def _infer_device(self, batch: np.ndarray) -> DeviceFields:
        self.calls.append(("device", batch.shape[0]))
        buffers = self._batch(batch.shape[0])
        return DeviceFields({k: v.ctypes.data for k, v in buffers.items()}, self.stream, keep=buffers)


class _GpuDecoder:
    """Records what a CUDA decoder would be asked; decoding host fields is not allowed on the device path."""

    def __init__(self, engine: _Engine) -> None:
        self.engine, self.calls = engine, []

    def __call__(self, fields):
        self.calls.append(("host", None, None))
        return self._result()

    def decode_device(self, ptrs, stream, *, frame=0):
        assert self.engine.calls[-1][0] == "device"  # decoded before the engine's next call reuses its buffers
        self.calls.append(("device", stream, frame))
        return self._result()

    @staticmethod
    def _result() -> FrameResult:
        r = FrameResult.empty(129, 129)
        r.ball, r.timings = Ball(64.0, 32.0, 0.5), {"fuse": 0.1, "total": 0.2}
        return r


class _EmulatedEngine(_Engine):
    """An engine whose output buffers are (emulated) device memory, filled on every call, as TensorRT's are."""

    def __init__(self, fields: dict[str, np.ndarray], arena: DeviceArena):
        super().__init__(fields, stream=0)
        self._arena, self._buffers = arena, {}

    def _infer_device(self, batch: np.ndarray) -> DeviceFields:
        self.calls.append(("device", batch.shape[0]))
        b = batch.shape[0]
        if b not in self._buffers:
            self._buffers[b] = {k: self._arena.array((b,) + v.shape[1:]) for k, v in self._one.items()}
        for k, v in self._batch(b).items():
            self._buffers[b][k][...] = v
        return DeviceFields({k: v.ctypes.data for k, v in self._buffers[b].items()}, self.stream, keep=self)


def _scene(players: int = 3):
    return broadcast_scenes(SPEC, 258, 200, players=players, count=1, seed=1, noise=0.0)[0]


def test_pipeline_call_and_stream_run_the_same_step(fake_onnx: Path, disc_frame) -> None:
    frame = disc_frame(160, 120, [(80, 60, 15)])
    with Pipeline(fake_onnx) as pipe:
        assert pipe.spec is pipe.step.spec and pipe.decoder is pipe.step.decoder and not pipe.step.on_device
        one = pipe(frame)
        again = pipe.step(frame)
        with pipe.stream([frame, frame]) as stream:
            assert stream.step is pipe.step
            streamed = list(stream)
    for r in (again, *streamed):
        np.testing.assert_array_equal(r.labels, one.labels)
        assert set(r.timings) >= {"preprocess", "inference", "decode", "map", "total"}


def test_fields_go_from_the_engine_to_the_decoder_on_its_stream() -> None:
    engine = _Engine(_scene().fields)
    decoder = _GpuDecoder(engine)  # a decoder with decode_device, as the CUDA one
    step = FrameStep(engine, decoder, labels="crop")
    result = step(_scene().frame)
    assert engine.calls == [("device", 1)] and decoder.calls == [("device", 7, 0)]
    assert result.ball is not None and result.ball.x == pytest.approx(128.5)  # in the 258-wide frame
    assert {"preprocess", "inference", "decode", "decode.fuse", "map", "total"} <= set(result.timings)
    batch, boxes, _ = step.preprocess([_scene().frame] * 2)
    inferred = step.infer(batch)
    assert inferred.fields is None and len(inferred.decoded or []) == 2 and decoder.calls[-2:] == [
        ("device", 7, 0), ("device", 7, 1)]
    assert step.finish(inferred, 1, boxes[1], {}).timings["decode"] == inferred.decode_ms[1]


def test_device_handoff_needs_both_sides_and_can_be_declined() -> None:
    engine = _Engine(_scene().fields)
    assert not FrameStep(engine, "numpy").on_device  # a host decoder: the fields come to the host
    host_only = _Engine(_scene().fields)
    host_only.device_outputs = False
    assert not FrameStep(host_only, _GpuDecoder(host_only)).on_device  # a backend without device outputs
    declined = FrameStep(engine, _GpuDecoder(engine), device_handoff=False)
    declined(_scene().frame)
    assert engine.calls == [("host", 1)] and declined.decoder.calls == [("host", None, None)]


def test_a_stream_decodes_each_frame_on_the_device_before_the_next_inference() -> None:
    engine = _Engine(_scene().fields)
    decoder = _GpuDecoder(engine)
    step = FrameStep(engine, decoder)
    assert step.on_device
    with Stream(step, open_source([_scene().frame] * 5)) as stream:
        results = list(stream)
    assert [r.frame_index for r in results] == list(range(5))
    assert [c[0] for c in engine.calls] == ["device"] * 5 and [c[2] for c in decoder.calls] == [0] * 5


@pytest.fixture(scope="module")
def emulated_cuda(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CUDA decoder's kernels built for the CPU (see dsl_testing.cuda_emulation)."""
    return emulated_library_or_skip(tmp_path_factory)


def test_the_cuda_decoder_reads_the_engine_outputs_where_they_are(emulated_cuda: str, monkeypatch) -> None:
    monkeypatch.setenv(cuda.LIBRARY_ENV, emulated_cuda)
    monkeypatch.setattr(cuda, "_lib", None)
    monkeypatch.setattr(cuda, "_lib_error", None)
    scene = _scene(players=4)
    engine = _EmulatedEngine(scene.fields, DeviceArena(SPEC))
    step = FrameStep(engine, "cuda", labels="dense")
    assert step.on_device and isinstance(step.decoder, cuda.CudaDecoder)
    on_device = step(scene.frame)
    via_host = FrameStep(engine, "cuda", labels="dense", device_handoff=False)(scene.frame)
    assert engine.calls == [("device", 1), ("host", 1)]
    assert on_device.num_players == via_host.num_players > 0
    np.testing.assert_array_equal(on_device.labels, via_host.labels)
    np.testing.assert_array_equal(on_device.keypoints, via_host.keypoints)
    assert on_device.ball == via_host.ball
    batch, boxes, _ = step.preprocess([scene.frame] * 2)
    inferred = step.infer(batch)  # frame 1 read at its offset in the batch
    np.testing.assert_array_equal(step.finish(inferred, 1, boxes[1], {}).labels, on_device.labels)


def test_the_runtime_backends_run_the_same_step_on_a_cpu(fake_onnx: Path, disc_frame) -> None:
    with load_backend(fake_onnx) as backend:
        step = FrameStep(backend)
        assert not step.on_device and step.spec == backend.spec
        result = step(disc_frame(160, 120, [(80, 60, 15)]))
    assert result.labels.shape == (120, 160)
