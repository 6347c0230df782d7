"""dsl-bench with several runtimes: the rows it plans, one run on the tiny stand-in graph, and its option errors."""
from __future__ import annotations

import json

import pytest
from dsl_testing.commands import run_command

from dsl_deploy.bench.runtimes import plan_rows


def test_rows_per_runtime_file_and_hint(pair):
    fp32, int8 = map(str, pair)
    asked: list[int] = []

    def caps() -> list[str]:
        asked.append(1)
        return ["FP32", "INT8"]

    rows = plan_rows([fp32, int8], ["onnxruntime", "openvino"], ["f32", "bf16"], caps)
    assert [r.label for r in rows] == ["onnxruntime fp32", "onnxruntime int8", "openvino fp32 (f32)",
                                       "openvino fp32 (bf16)", "openvino int8 (f32)", "openvino int8 (bf16)"]
    assert [bool(r.skipped) for r in rows] == [False, False, False, True, False, True]
    assert "this CPU has no BF16 (OpenVINO's CPU capabilities: FP32, INT8)" == rows[3].skipped
    assert plan_rows([fp32], ["openvino"], [None], caps)[0].label == "openvino fp32" and len(asked) == 2


def test_int8_and_fp32_on_both_runtimes_in_one_run(pair, tmp_path):
    pytest.importorskip("openvino", reason="the OpenVINO backend is an optional extra: pip install "
                                           "'dsl_deploy[openvino]'")
    fp32, int8 = pair
    res = run_command("dsl-bench", "--onnx", int8, "--versus", fp32, "--backend", "onnxruntime,openvino",
                      "--precision-hint", "f32,bf16", "--threads", "1", "--iters", "1", "--warmup", "0",
                      "--frame-size", "input", "--out", tmp_path, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    doc = json.loads(next(tmp_path.glob("bench-*-runtimes.json")).read_text())
    rows = {r["label"]: r for r in doc["rows"]}
    assert list(rows)[:3] == ["onnxruntime fp32", "onnxruntime int8", "openvino fp32 (f32)"]
    assert rows["onnxruntime fp32"]["reference"] and "agreement" not in rows["onnxruntime fp32"]
    ran = [r for r in doc["rows"] if "result" in r]
    assert {r["result"]["backend"] for r in ran} == {"onnxruntime", "openvino"}
    for row in ran[1:]:
        assert row["vs_reference"]["total"] > 0 and row["agreement"]["frames"] == 8, row["label"]
    assert rows["openvino fp32 (f32)"]["agreement"]["field_max_abs"]["pif"] < 1e-3
    assert rows["openvino fp32 (f32)"]["result"]["inference_precision"] == "f32"
    bf16 = rows["openvino fp32 (bf16)"]
    assert ("skipped" in bf16) != (bf16.get("result", {}).get("inference_precision") == "bf16")
    assert doc["cpu"]["model_name"] and doc["load_average"]["one_minute"]["max"] >= 0
    assert doc["settings"]["command"].startswith("dsl-bench --onnx")
    assert "openvino int8 (f32)" in res.stdout and "agreement with onnxruntime fp32 (8 frames)" in res.stdout


@pytest.mark.parametrize("args,message", [
    (["--backend", "onnx"], "--backend: 'onnx'; expected auto or one or more of"),
    (["--precision-hint", "bf16"], "--precision-hint: applies to --backend openvino only"),
    (["--backend", "openvino", "--precision-hint", "fp16"], "--precision-hint: 'fp16'; expected one or more of"),
    (["--backend", "auto,openvino"], "name each runtime when measuring several"),
])
def test_option_errors(pair, tmp_path, args, message):
    res = run_command("dsl-bench", "--onnx", pair[0], *args, cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1 and message in lines[0], res.stderr


def test_an_engine_does_not_run_on_openvino(pair, tmp_path):
    pytest.importorskip("openvino", reason="without openvino dsl-bench stops at its absence first")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    res = run_command("dsl-bench", "--engine", engine, "--backend", "openvino", cwd=tmp_path)
    assert res.returncode != 0 and "backend: openvino does not open m.engine" in res.stderr, res.stderr
