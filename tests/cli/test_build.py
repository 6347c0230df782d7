"""dsl-build through the installed command: help, target listing, and every error path (exit code + one line)."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from dsl_testing.commands import run_command
from dsl_testing.onnx_models import tiny_conv_model

onnx = pytest.importorskip("onnx")


def _run(*args: object) -> subprocess.CompletedProcess:
    return run_command("dsl-build", *args, timeout=120)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("build_cli")
    good, nospec, text = root / "model.onnx", root / "nospec.onnx", root / "text.onnx"
    onnx.save(tiny_conv_model(), str(good))
    onnx.save(tiny_conv_model(with_spec=False), str(nospec))
    text.write_text("hello\n" * 50)
    return {"good": good, "nospec": nospec, "text": text, "root": root}


def _one_error_line(res: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dsl-build: error: "), res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def test_help_explains_options_and_lists_targets():
    res = _run("--help")
    assert res.returncode == 0
    for text in ("--target", "--calib-images", "--calib-synthetic", "--timing-cache", "--fp16-overrides",
                 "--output", "default", "jetson-orin-int8", "cpu-onnxruntime", "v100-fp16"):
        assert text in res.stdout, text
    listing = _run("--list-targets")
    assert listing.returncode == 0 and len(listing.stdout.strip().splitlines()) == 9


def test_usage_and_option_errors(models):
    _one_error_line(_run(models["good"]), 1, "usage: dsl-build MODEL.onnx --target NAME")
    _one_error_line(_run(models["good"], "--target", "jetson-orin-int8", "--calib-synthetic", "0"), 1,
                    "--calib-synthetic: expected a positive frame count")
    _one_error_line(_run(models["good"], "--target", "jetson-orin-int8", "--calib-images", models["root"] / "none"),
                    1, "--calib-images:", "is not a folder")
    _one_error_line(_run(models["good"], "--target", "gpu-fp16", "--device", "-1"), 1, "--device: expected")
    _one_error_line(_run(models["good"], "--target", "gpu-fp16", "-o", models["root"]), 1, "--output:", "is a folder")
    _one_error_line(_run(models["good"], "--target", "gpu-fp16", "-o", models["good"]), 1, "is the ONNX model")
    empty = models["root"] / "no-images"
    empty.mkdir(exist_ok=True)
    _one_error_line(_run(models["good"], "--target", "jetson-orin-int8", "--calib-images", empty), 1,
                    str(empty), "no images")


def test_unknown_target_lists_available(models):
    _one_error_line(_run(models["good"], "--target", "tpu"), 1, "target 'tpu' is not a known target",
                    "available: cpu-onnxruntime, cpu-onnxruntime-int8, cpu-openvino, cpu-openvino-int8, gpu-fp16")


def test_malformed_profile_names_the_field(models):
    bad = models["root"] / "bad.toml"
    bad.write_text('name = "bad"\ndescription = "x"\nprecision = "int3"\n')
    _one_error_line(_run(models["good"], "--target", bad), 1, str(bad), "field 'precision'", "'int8'")


@pytest.mark.parametrize("which, fragment", [
    ("missing", "no such file"), ("text", "ONNX model"), ("nospec", "no 'dsl_deploy.spec' metadata"),
])
def test_bad_onnx(models, which, fragment):
    path = models.get(which, models["root"] / "absent.onnx")
    _one_error_line(_run(path, "--target", "gpu-fp16"), 1, str(path), fragment)


def test_without_tensorrt_exit_3_says_what_is_missing(models):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    _one_error_line(_run(models["good"], "--target", "jetson-orin"), 3,
                    "cannot build a TensorRT engine here", "TensorRT is not installed")


def test_onnxruntime_target_needs_no_build_and_prints_next_commands(models):
    res = _run(models["good"], "--target", "cpu-onnxruntime")
    assert res.returncode == 0, res.stderr
    assert "nothing to build" in res.stdout
    assert f"dsl-bench --onnx {models['good']}" in res.stdout and f"--model {models['good']}" in res.stdout
    res = _run(models["good"], "--target", "cpu-onnxruntime", "-o", models["root"] / "x.engine")
    assert res.returncode == 0 and "-o " in res.stderr and "is ignored" in res.stderr
    assert not (models["root"] / "x.engine").exists()


def test_openvino_target_needs_no_build_and_names_the_backend(models):
    res = _run(models["good"], "--target", "cpu-openvino")
    assert res.returncode == 0, res.stderr
    assert "runs the ONNX model directly on OpenVINO: nothing to build" in res.stdout
    assert f"dsl-infer VIDEO_OR_FOLDER --model {models['good']} --backend openvino" in res.stdout
    _one_error_line(_run(models["good"], "--target", "cpu-openvino-int8"), 1,
                    "target cpu-openvino-int8 runs int8 files on OpenVINO", "--precision int8 --int8-scheme cpu")
