"""The precision step (export/precision.py, int8.py, fp16.py, graph.py) on a small stand-in graph, without torch."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dsl_testing.commands import run_command
from dsl_testing.onnx_models import ready_fields_model, save_checked

from dsl_deploy.errors import ArtifactError, DataError, InputError
from dsl_deploy.export import graph
from dsl_deploy.export.metadata import META_PRECISION, META_SPEC
from dsl_deploy.export.precision import PrecisionOptions, convert_precision
from dsl_deploy.spec import NUM_TYPES, default_spec

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")

TAIL = {"player_sigmoid", "offset_scale", "pif_reshape", "pif_sigmoid"}
HEADS = {"head_player", "head_offset", "head_pif"}


def body_and_heads_model(size: int = 33):
    """image -> two conv+ReLU layers -> three head convs -> a tail (sigmoid, scale, reshape), with a spec."""
    from onnx import helper, numpy_helper

    spec = default_spec("resnet18", size)
    hp, wp = spec.pif_size
    rng = np.random.default_rng(0)

    def w(name, *shape, std=0.3):
        return numpy_helper.from_array(rng.normal(0, std, shape).astype(np.float32), name)

    inits = [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 8, 8, 3, 3), w("b2", 8), w("w_player", 1, 8, 1, 1),
             w("w_offset", 2, 8, 1, 1), w("w_pif", NUM_TYPES * 5, 8, 1, 1),
             numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             numpy_helper.from_array(np.array([0, NUM_TYPES, 5, hp, wp], np.int64), "pif_shape")]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="body_conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="body_relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="body_conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="body_relu2"),
        helper.make_node("Conv", ["r2", "w_player"], ["semantic"], name="head_player"),
        helper.make_node("Sigmoid", ["semantic"], ["player"], name="player_sigmoid"),
        helper.make_node("Conv", ["r2", "w_offset"], ["offset_raw"], name="head_offset"),
        helper.make_node("Mul", ["offset_raw", "two"], ["offset"], name="offset_scale"),
        helper.make_node("Conv", ["r2", "w_pif"], ["pif_raw"], strides=[8, 8], name="head_pif"),
        helper.make_node("Reshape", ["pif_raw", "pif_shape"], ["pif_5d"], name="pif_reshape"),
        helper.make_node("Sigmoid", ["pif_5d"], ["pif"], name="pif_sigmoid"),
    ]
    return ready_fields_model(spec, nodes, inits, name="body_heads", opset=17)


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("precision") / "m.onnx"
    save_checked(body_and_heads_model(), path)
    return path


def convert(src: Path, out: Path, **kw) -> dict:
    lines: list[str] = []
    record = convert_precision(src, out, PrecisionOptions(**{"check_frames": 2, **kw}), log=lines.append)
    record["log"] = lines
    return record


def test_graph_tail_and_head_convs(fp32_model):
    model = onnx.load(str(fp32_model))
    assert set(graph.output_tail(model)) == TAIL
    assert set(graph.head_convs(model)) == HEADS


@pytest.mark.parametrize("scheme", ["cpu", "tensorrt"])
def test_int8_has_qdq_on_the_body_and_none_in_the_fp32_tail(fp32_model, tmp_path, scheme):
    out = tmp_path / "m.int8.onnx"
    record = convert(fp32_model, out, precision="int8", calib="synthetic:4", int8_scheme=scheme,
                     calib_record=tmp_path / "rec.json")
    model = onnx.load(str(out))
    fed_by_dq = graph.quantized_inputs(model)
    assert {"body_conv1", "body_conv2"} <= set(fed_by_dq["Conv"])  # every convolution reads dequantised values
    assert HEADS <= set(fed_by_dq["Conv"])  # the heads' convolutions too (weights and inputs), outputs FP32
    made_by = graph.producers(model)
    for node in model.graph.node:
        if node.name in TAIL:
            kinds = {made_by[t].op_type for t in node.input if t in made_by}
            assert not kinds & graph.QDQ_OPS, (node.name, kinds)
    assert graph.io_types(model) == {"image": "FLOAT", "player": "FLOAT", "offset": "FLOAT", "pif": "FLOAT"}
    spec = json.loads({p.key: p.value for p in model.metadata_props}[META_SPEC])
    assert spec["precision"] == "int8"
    if scheme == "tensorrt":  # TensorRT: int8 with zero point 0, and no INT32 bias dequantisation
        assert graph.activation_zero_points(model) == {0}
        assert graph.quantized_element_types(model) == {"INT8"}
        assert record["int8"]["biases"] == "fp32"
    else:  # uint8 activations (with zero points), int8 weights
        assert "UINT8" in graph.quantized_element_types(model)
        assert record["int8"]["biases"] == "int32"
    stored = json.loads({p.key: p.value for p in model.metadata_props}[META_PRECISION])
    assert stored["agreement"]["frames"] == 2 and stored["int8"]["calibration"]["count"] == 4


def test_int8_runs_on_the_onnxruntime_backend_close_to_fp32(fp32_model, tmp_path):
    from dsl_deploy.backends import load_backend

    out = tmp_path / "m.int8.onnx"
    convert(fp32_model, out, precision="int8", calib="synthetic:8", calib_record=tmp_path / "rec.json")
    x = np.random.default_rng(1).uniform(-2, 2, (2, 3, 33, 33)).astype(np.float32)
    with load_backend(fp32_model) as ref, load_backend(out) as test:
        assert test.spec.precision == "int8" and ref.spec.precision == "fp32"
        a, b = ref.infer(x), test.infer(x)
    for name in ("player", "offset", "pif"):
        assert b[name].dtype == np.float32 and b[name].shape == a[name].shape
        scale = float(np.abs(a[name]).max())
        assert float(np.abs(a[name] - b[name]).max()) < 0.1 * scale, name


def test_calibration_record_is_reused_and_refused_for_another_graph(fp32_model, tmp_path):
    rec = tmp_path / "rec.json"
    first = convert(fp32_model, tmp_path / "a.onnx", precision="int8", calib="synthetic:4", calib_record=rec)
    doc = json.loads(rec.read_text())
    assert doc["format"] == "dsl_deploy.calibration" and doc["source"]["count"] == 4 and doc["ranges"]
    again = convert(fp32_model, tmp_path / "b.onnx", precision="int8", calib_record=rec)  # no --calib needed
    assert any("reusing the calibration record" in line for line in again["log"])
    assert not any("reusing" in line for line in first["log"])
    other = tmp_path / "other.onnx"
    save_checked(body_and_heads_model(49), other)
    with pytest.raises(ArtifactError, match="made for another FP32 graph"):
        convert(other, tmp_path / "c.onnx", precision="int8", calib_record=rec)


def test_fp16_keeps_io_and_tail_fp32(fp32_model, tmp_path):
    out = tmp_path / "m.fp16.onnx"
    record = convert(fp32_model, out, precision="fp16")
    model = onnx.load(str(out))
    assert graph.io_types(model) == {"image": "FLOAT", "player": "FLOAT", "offset": "FLOAT", "pif": "FLOAT"}
    weights = {t.name: onnx.TensorProto.DataType.Name(t.data_type) for t in model.graph.initializer}
    assert weights["w1"] == weights["w2"] == "FLOAT16"
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)
             for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    tail_outputs = [o for n in model.graph.node if n.name in TAIL for o in n.output]
    assert tail_outputs and all(types[o] == "FLOAT" for o in tail_outputs)
    assert types["c1"] == "FLOAT16"
    assert record["kept_fp32"]["nodes"] == len(TAIL) and "agreement" in record


def test_converting_twice_or_to_fp32_is_refused(fp32_model, tmp_path):
    out = tmp_path / "m.fp16.onnx"
    convert(fp32_model, out, precision="fp16", check_frames=0)
    with pytest.raises(ArtifactError, match="already fp16"):
        convert(out, tmp_path / "again.onnx", precision="int8", calib="synthetic:2")
    with pytest.raises(InputError, match="--calib"):
        convert(fp32_model, tmp_path / "x.onnx", precision="int8")


def test_calibration_inputs_that_give_nothing_are_clear_errors(fp32_model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "frame.jpg").write_bytes(b"not a jpeg")
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00" * 64)
    cases = [(str(empty), DataError, "no images"), (str(bad), DataError, "frame.jpg: not a readable image"),
             (str(video), DataError, "not a readable video"), (str(tmp_path / "missing"), DataError, "no such"),
             ("synthetic:0", InputError, "synthetic:N"), (str(tmp_path / "m.txt"), DataError, "no such")]
    for src, kind, text in cases:
        with pytest.raises(kind, match=text):
            convert(fp32_model, tmp_path / "out.onnx", precision="int8", calib=src, check_frames=0)
    assert not (tmp_path / "out.onnx").exists()


def test_held_out_frames_are_never_calibration_frames():
    from dsl_deploy.tensorrt.calibration import split_picks

    for available, count, check in [(100, 32, 8), (10, 32, 8), (3, 5, 8), (1, 4, 2)]:
        calib, held = split_picks(available, count, check)
        assert calib and not set(calib) & set(held)
        assert len(calib) <= count and all(0 <= i < available for i in calib + held)
        assert len(held) == (min(check, available // 4) if available >= 2 else 0)


def test_agreement_of_a_result_with_itself_and_a_shifted_copy():
    from dsl_deploy.data.encode import ideal_fields
    from dsl_deploy.data.synthetic import SyntheticScenes
    from dsl_deploy.decode import Decoder
    from dsl_deploy.export.agreement import Agreement

    spec = default_spec("resnet18", 129)
    _, ann = SyntheticScenes(3, 129, 129)[0]
    fields = {k: v[None] for k, v in ideal_fields(ann, spec).items()}
    shifted = {**fields, "pif": fields["pif"].copy()}
    shifted["pif"][:, :, 1] += 1.0  # every keypoint one pixel to the right
    decoder = Decoder(spec)
    a, b = decoder(fields), decoder(shifted)
    assert a.num_players > 0
    same, moved = Agreement(), Agreement()
    same.add(a, a)
    moved.add(a, b)
    s, m = same.summary(), moved.summary()
    assert s["player_match_rate"] == 1.0 and s["mask_iou_min"] == 1.0 and s["keypoint_px_max"] == 0.0
    assert m["players_matched"] == a.num_players and 0.5 <= m["keypoint_px_mean"] <= 1.5


def test_cli_precision_on_an_onnx_file(fp32_model, tmp_path):
    ok = run_command("dsl-export", fp32_model, "--precision", "int8", "--calib", "synthetic:4",
                     "-o", tmp_path / "m.int8.onnx", "--check-frames", "2")
    assert ok.returncode == 0, ok.stderr
    assert "int8 vs fp32 on 2 held-out frames" in ok.stdout and (tmp_path / "m.int8.calib.json").is_file()
    empty = tmp_path / "frames"
    empty.mkdir()
    res = run_command("dsl-export", fp32_model, "--precision", "int8", "--calib", empty, "-o", tmp_path / "x.onnx")
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1 and "no images" in lines[0], res.stderr
    res = run_command("dsl-export", fp32_model, "--precision", "int8", "-o", tmp_path / "y.onnx")
    assert res.returncode != 0 and "give --calib SRC" in res.stderr
