"""Engine builder: option resolution on CPU; real FP16/INT8 builds on a GPU (marked)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dsl_deploy.errors import ArtifactError, BackendUnavailable, InputError
from dsl_deploy.tensorrt.builder import (
    BuildOptions, add_calibration, add_input_profile, agreement_batch, build_engine, calibration_feed,
    check_build_requirements, input_size, timing_cache_path, use_timing_cache,
)
from dsl_deploy.tensorrt.onnx_check import inspect_onnx
from dsl_deploy.tensorrt.profiles import ProfileError, load_profile, parse_profile
from dsl_deploy.tensorrt.sidecar import GpuInfo

H100 = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")


def _profile(**overrides):
    data = {"name": "t", "description": "t", "precision": "int8", "timing_cache": "",
            "input": {"min_batch": 1, "opt_batch": 1, "max_batch": 2},
            "calibration": {"source": "folder", "count": 8, "batch": 4}}
    data.update(overrides)
    return parse_profile(data, source="t.toml")


def test_input_size_follows_the_model(tiny_onnx):
    info = inspect_onnx(tiny_onnx)
    assert input_size(info, load_profile("gpu-fp16")) == (33, 33)
    with pytest.raises(ProfileError, match="input.width/height' is 641x641 but .*model.onnx was exported at 33x33"):
        input_size(info, _profile(input={"width": 641, "height": 641}))


def test_fixed_batch_model_rejects_a_batch_range(make_onnx):
    info = inspect_onnx(make_onnx(batch=1))
    with pytest.raises(ArtifactError, match="batch dimension is fixed at 1.*batch 1..2"):
        input_size(info, _profile())


def test_timing_cache_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    auto = timing_cache_path(load_profile("gpu-fp16"), BuildOptions(), H100, "10.3.0.26")
    assert auto == tmp_path / "dsl_deploy" / "timing" / "h100.sm90.trt10.3.cache"
    assert timing_cache_path(_profile(), BuildOptions(), H100, "10.3") is None
    assert timing_cache_path(_profile(timing_cache="/x/y.cache"), BuildOptions(), H100, "10.3").as_posix() == \
        "/x/y.cache"
    assert timing_cache_path(_profile(), BuildOptions(timing_cache=tmp_path / "o"), H100, "10.3") == tmp_path / "o"


def test_calibration_feed_from_folder_option(tmp_path, tiny_onnx):
    info = inspect_onnx(tiny_onnx)
    images = tmp_path / "frames"
    images.mkdir()
    for i in range(6):
        cv2.imwrite(str(images / f"{i}.png"), np.full((40, 60, 3), 10 * i, np.uint8))
    feed, summary = calibration_feed(info, _profile(), BuildOptions(calib_images=images))
    assert summary == {"source": "folder", "folder": str(images), "count": 6, "batch": 4, "batches": 1,
                       "dropped": 2}
    assert feed.next_batch().shape == (4, 3, 33, 33)
    with pytest.raises(InputError, match="calibration source is 'folder' but no folder is set"):
        calibration_feed(info, _profile(), BuildOptions())


def test_calibration_feed_synthetic_option_overrides_the_folder_source(tiny_onnx):
    info = inspect_onnx(tiny_onnx)
    feed, summary = calibration_feed(info, _profile(), BuildOptions(calib_synthetic=6))
    assert summary["source"] == "synthetic" and summary["count"] == 6 and summary["batches"] == 1
    first = feed.next_batch()
    assert first.shape == (4, 3, 33, 33) and float(first.std()) > 0  # real scenes, not blank frames
    feed.reset()
    np.testing.assert_array_equal(feed.next_batch(), first)  # deterministic per seed


class _Recorder:
    """Stands in for TensorRT's builder, config and optimization profile: records what the steps set."""

    def __init__(self) -> None:
        self.calls: list = []

    def __getattr__(self, name: str):
        if name.startswith("create_"):
            return lambda *a: self
        return lambda *a: self.calls.append((name, a)) or self


def test_build_steps_alone_profile_timing_cache_and_no_calibration_for_fp16(tmp_path, tiny_onnx):
    info = inspect_onnx(tiny_onnx)
    builder = config = _Recorder()
    record = add_input_profile(builder, config, info, _profile(), 33, 33)
    assert record == {"name": info.input_name, "min": [1, 3, 33, 33], "opt": [1, 3, 33, 33], "max": [2, 3, 33, 33]}
    assert ("set_shape", (info.input_name, (1, 3, 33, 33), (1, 3, 33, 33), (2, 3, 33, 33))) in builder.calls
    assert use_timing_cache(config, None, print) is None
    lines: list[str] = []
    (tmp_path / "t.cache").write_bytes(b"1234")
    assert use_timing_cache(config, tmp_path / "t.cache", lines.append) is config
    assert ("set_timing_cache", (config, False)) in config.calls
    assert lines == [f"timing cache: {tmp_path / 't.cache'} (reused, 4 bytes)"]
    assert add_calibration(None, builder, config, info, _profile(precision="fp16"), BuildOptions(), tmp_path / "e",
                           (33, 33), print) is None


def test_agreement_batch_holds_other_scenes_than_calibration(tiny_onnx):
    info = inspect_onnx(tiny_onnx)
    frames = agreement_batch(info, _profile(), BuildOptions(calib_synthetic=4), count=3)
    feed, _ = calibration_feed(info, _profile(), BuildOptions(calib_synthetic=4))
    assert frames.shape == (3, 3, 33, 33)
    assert not np.array_equal(frames[0], feed.next_batch()[0])


def test_build_requirements_list_everything_missing():
    try:
        check_build_requirements()
    except BackendUnavailable as exc:
        assert str(exc).startswith("cannot build a TensorRT engine here: ")
    else:  # pragma: no cover - a GPU machine: then TensorRT really is importable
        import tensorrt  # noqa: F401



def test_uint8_input_file_gets_a_uint8_profile_feed_and_agreement_batch(tmp_path, tiny_onnx):
    from dsl_deploy.export.uint8_input import write_uint8_model
    from dsl_deploy.preprocess import Preprocessor

    info = inspect_onnx(write_uint8_model(tiny_onnx, tmp_path / "u8.onnx"))
    builder = config = _Recorder()
    record = add_input_profile(builder, config, info, _profile(), 33, 33)
    assert record == {"name": info.input_name, "min": [1, 33, 33, 3], "opt": [1, 33, 33, 3], "max": [2, 33, 33, 3]}
    feed, summary = calibration_feed(info, _profile(), BuildOptions(calib_synthetic=8))
    batch = feed.next_batch()
    assert batch.dtype == np.uint8 and batch.shape == (4, 33, 33, 3) and feed.nbytes == batch.nbytes
    frames = agreement_batch(info, _profile(), BuildOptions(calib_synthetic=4), count=3)
    assert frames.dtype == np.uint8 and frames.shape == (3, 33, 33, 3)
    # The same letterbox the runtime feeds such a model.
    from dsl_deploy.tensorrt.calibration import synthetic_frames
    first = synthetic_frames(_profile().calibration.seed, 33, 33)(0)
    expected, _ = Preprocessor(info.spec, output="uint8")(first)
    assert np.array_equal(batch[0], expected[0])


# ---- GPU -------------------------------------------------------------------------------------

@pytest.mark.tensorrt
def test_fp16_build_writes_bare_plan_sidecar_and_timing_cache(tmp_path, tiny_onnx):
    from dsl_deploy.tensorrt.sidecar import read_sidecar, sha256_file

    info = inspect_onnx(tiny_onnx)
    cache = tmp_path / "timing.cache"
    profile = _profile(precision="fp16")
    report = build_engine(info, profile, BuildOptions(output=tmp_path / "a.engine", timing_cache=cache),
                          log=lambda m: None)
    doc = read_sidecar(report.engine_path)
    assert doc["engine_sha256"] == sha256_file(report.engine_path) and doc["onnx_sha256"] == info.sha256
    assert doc["spec"] == info.spec.to_dict() and doc["build"]["target"]["name"] == "t"
    assert "FP16" in doc["build"]["flags"]["builder_flags"] and any("player_sigmoid" in n for n in report.fp32_layers)
    assert not report.engine_path.read_bytes().lstrip().startswith(b"{")  # no JSON header glued on
    assert cache.stat().st_size > 0
    again = build_engine(info, profile, BuildOptions(output=tmp_path / "b.engine", timing_cache=cache),
                         log=lambda m: None)
    assert json.loads(again.sidecar_path.read_text())["build"]["flags"]["timing_cache"] == str(cache)


@pytest.mark.tensorrt
def test_int8_build_calibrates_caches_and_agrees(tmp_path, tiny_onnx):
    from dsl_deploy.tensorrt.agreement import compare_with_onnxruntime

    images = tmp_path / "frames"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(images / f"{i}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    info = inspect_onnx(tiny_onnx)
    opts = BuildOptions(output=tmp_path / "int8.engine", calib_images=images)
    report = build_engine(info, _profile(), opts, log=lambda m: None)
    assert report.calibration["batches"] == 2
    assert (tmp_path / "int8.calib.cache").stat().st_size > 0
    feed, _ = calibration_feed(info, _profile(), opts)
    agree = compare_with_onnxruntime(report.engine_path, tiny_onnx, list(feed))
    assert agree["player_mask_iou"] > 0.9 and agree["max_abs_player"] < 0.1
    assert agree["decoded_foreground_iou"] > 0.8 and agree["decoded_ball_agreement"] >= 0.5



@pytest.mark.tensorrt
def test_uint8_input_engine_takes_letterboxed_frames_and_agrees(tmp_path, tiny_onnx):
    from dsl_deploy.export.metadata import INPUT_UINT8
    from dsl_deploy.export.uint8_input import write_uint8_model
    from dsl_deploy.tensorrt.agreement import compare_with_onnxruntime
    from dsl_deploy.tensorrt.backend import TensorRTBackend

    u8 = write_uint8_model(tiny_onnx, tmp_path / "u8.onnx")
    info = inspect_onnx(u8)
    report = build_engine(info, _profile(precision="fp16"), BuildOptions(output=tmp_path / "u8.engine"),
                          log=lambda m: None)
    assert report.calibration is None
    with TensorRTBackend(report.engine_path) as engine:
        assert engine.input_format == INPUT_UINT8
    frames = agreement_batch(info, _profile(), BuildOptions(calib_synthetic=4), count=2)
    agree = compare_with_onnxruntime(report.engine_path, u8, [frames])
    assert agree["player_mask_iou"] > 0.9 and agree["max_abs_player"] < 0.05
