"""A model with the normalisation in its graph takes uint8 frames and gives the float model's outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.errors import ArtifactError
from dsl_deploy.preprocess import Preprocessor

onnx = pytest.importorskip("onnx", reason="the uint8 input option rewrites the graph with onnx")
ort = pytest.importorskip("onnxruntime")
from dsl_testing.onnx_models import write_disc_model  # noqa: E402

from dsl_deploy.export.uint8_input import META_INPUT_FORMAT, add_uint8_input, write_uint8_model  # noqa: E402


def test_uint8_model_equals_the_float_model_on_the_same_frames(tmp_path: Path) -> None:
    src = tmp_path / "float.onnx"
    spec = write_disc_model(src, 65)
    dst = write_uint8_model(src, tmp_path / "uint8.onnx")
    model = onnx.load(str(dst))
    assert {p.key: p.value for p in model.metadata_props}[META_INPUT_FORMAT] == "uint8-nhwc-bgr"
    # Expose the prologue's output too, to compare the normalised input itself (channel order included).
    model.graph.output.extend([onnx.helper.make_tensor_value_info("image_normalised", onnx.TensorProto.FLOAT, None)])
    f_sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    u_sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), rng.integers(0, 256, (120, 60, 3), dtype=np.uint8)]
    floats, _ = Preprocessor(spec, resize="linear")(frames)
    frames8, _ = Preprocessor(spec, resize="linear", output="uint8")(frames)
    assert frames8.shape == (2, 65, 65, 3) and frames8.dtype == np.uint8
    names = [o.name for o in f_sess.get_outputs()]
    want = dict(zip(names, f_sess.run(names, {"image": floats})))
    got = dict(zip(names + ["image_normalised"], u_sess.run(names + ["image_normalised"], {"image": frames8})))
    np.testing.assert_array_equal(got["image_normalised"], floats)
    for name in names:
        np.testing.assert_array_equal(got[name], want[name])


def test_a_converted_or_foreign_model_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "float.onnx"
    spec = write_disc_model(src, 65)
    once = add_uint8_input(onnx.load(str(src)), spec)
    with pytest.raises(ArtifactError, match="input 'image' is not float32; was it converted already"):
        add_uint8_input(once, spec)
    bare = onnx.load(str(src))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ArtifactError, match="no dsl_deploy.spec metadata"):
        write_uint8_model(tmp_path / "bare.onnx", tmp_path / "x.onnx")
