"""A model exported with --uint8-input (it normalises in its graph) runs in the runtime: the backend reads the input
format from the file, the frame step letterboxes uint8 frames for it, and the decoded results are the float model's."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dsl_deploy import Pipeline
from dsl_deploy.backends import load_backend
from dsl_deploy.errors import ArtifactError, InputError

onnx = pytest.importorskip("onnx", reason="the uint8 input option rewrites the graph with onnx")
pytest.importorskip("onnxruntime")
from dsl_testing.commands import run_command  # noqa: E402
from dsl_testing.onnx_models import disc_frame, write_disc_model  # noqa: E402

from dsl_deploy.export.metadata import META_INPUT_FORMAT  # noqa: E402
from dsl_deploy.export.uint8_input import write_uint8_model  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """(float model, its --uint8-input export) of the disc stand-in at 129."""
    folder = tmp_path_factory.mktemp("uint8")
    write_disc_model(folder / "float.onnx", 129)
    return folder / "float.onnx", write_uint8_model(folder / "float.onnx", folder / "uint8.onnx")


FRAMES = [(1920, 1080, [(500, 500, 220), (1400, 500, 200)]), (333, 500, [(90, 150, 60), (230, 380, 55)]),
          (161, 97, [(50, 50, 30)])]


@pytest.mark.parametrize("resize", ["box-linear", "area"])
def test_the_same_frames_decode_the_same_through_both_exports(models, resize: str) -> None:
    float_path, uint8_path = models
    with Pipeline(float_path, resize=resize) as pf, Pipeline(uint8_path, resize=resize) as pu:
        assert pf.backend.input_format == "float-nchw" and pu.backend.input_format == "uint8-nhwc-bgr"
        assert pu.step.preprocessor().output == "uint8"
        for w, h, discs in FRAMES:
            a, b = pf(disc_frame(w, h, discs)), pu(disc_frame(w, h, discs))
            assert a.num_players == b.num_players == len(discs)
            for name in ("keypoints", "scores", "boxes", "centers", "areas"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
            np.testing.assert_array_equal(a.labels, b.labels)
            assert a.ball == b.ball


def test_the_backend_checks_a_uint8_batch(models) -> None:
    _, uint8_path = models
    backend = load_backend(uint8_path)
    assert backend.preprocess_output == "uint8"
    with pytest.raises(InputError, match=r"expected dtype uint8, got float32 .*Preprocessor\(spec, output='uint8'\)"):
        backend.infer(np.zeros((1, 3, 129, 129), np.float32))
    with pytest.raises(InputError, match=r"expected shape \(B, 129, 129, 3\), got \(1, 3, 129, 129\)"):
        backend.infer(np.zeros((1, 3, 129, 129), np.uint8))
    with pytest.raises(InputError, match="expected a numpy uint8 BGR frames"):
        backend.infer([[0]])
    out = backend.infer(np.zeros((2, 129, 129, 3), np.uint8))
    assert out["player"].shape == (2, 1, 129, 129)
    float_backend = load_backend(models[0])
    with pytest.raises(InputError, match="expected dtype float32, got uint8"):
        float_backend.infer(np.zeros((1, 129, 129, 3), np.uint8))


def _with_metadata(src: Path, dst: Path, **values: str | None) -> Path:
    model = onnx.load(str(src))
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update(values)
    del model.metadata_props[:]
    for key, value in meta.items():
        if value is not None:
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(dst))
    return dst


def test_metadata_that_does_not_fit_the_graph_is_refused(models, tmp_path: Path) -> None:
    float_path, uint8_path = models
    lying = _with_metadata(float_path, tmp_path / "lying.onnx", **{META_INPUT_FORMAT: "uint8-nhwc-bgr"})
    with pytest.raises(ArtifactError, match=r"is tensor\(float\) but the metadata says letterboxed uint8 frames"):
        load_backend(lying)
    stripped = _with_metadata(uint8_path, tmp_path / "stripped.onnx", **{META_INPUT_FORMAT: None})
    with pytest.raises(ArtifactError, match=r"is tensor\(uint8\) but the metadata says normalised float32"):
        load_backend(stripped)
    future = _with_metadata(uint8_path, tmp_path / "future.onnx", **{META_INPUT_FORMAT: "fp8-nhwc"})
    with pytest.raises(ArtifactError, match="'dsl_deploy.input_format' is .*fp8-nhwc.*expected one of float-nchw, "
                                            "uint8-nhwc-bgr"):
        load_backend(future)


def test_dsl_infer_and_dsl_bench_run_a_uint8_model(models, tmp_path: Path) -> None:
    float_path, uint8_path = models
    image = tmp_path / "discs.png"
    cv2.imwrite(str(image), disc_frame(400, 300, [(100, 120, 30), (300, 200, 25)]))
    lines = {}
    for name, path in (("float", float_path), ("uint8", uint8_path)):
        run = run_command("dsl-infer", str(image), "--model", str(path), "-o", "-", "--no-progress", timeout=120)
        assert run.returncode == 0, run.stderr
        record = json.loads(run.stdout.splitlines()[0])
        record.pop("timings_ms", None)
        record.pop("timestamp", None)  # the file's read time
        lines[name] = record
    assert lines["uint8"] == lines["float"] and len(lines["uint8"]["players"]) == 2
    out = tmp_path / "bench.json"
    run = run_command("dsl-bench", "--onnx", str(uint8_path), "--iters", "2", "--warmup", "1", "--no-peer",
                      "--no-plot", "--json", str(out), cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    assert doc["ours"]["ms"]["preprocess"]["n"] == 2 and doc["ours"]["ms"]["inference"]["median"] > 0
