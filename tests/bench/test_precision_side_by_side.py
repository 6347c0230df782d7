"""dsl-bench with a converted file beside its FP32 original (--versus), on the tiny stand-in graph."""
from __future__ import annotations

import json

from dsl_testing.commands import run_command


def test_precision_helpers_read_the_files(pair):
    from dsl_deploy.bench.precision import describe_agreement, precision_of, precision_record

    fp32, int8 = pair
    assert precision_of(fp32) == "fp32" and precision_of(int8) == "int8"
    record = precision_record(int8)
    assert record["precision"] == "int8" and record["agreement"]["frames"] == 2
    assert precision_record(fp32) is None
    assert describe_agreement(record).startswith("agreement (measured by dsl-export): int8 vs fp32 on 2 held-out")


def test_int8_beside_fp32_in_one_run(pair, tmp_path):
    fp32, int8 = pair
    res = run_command("dsl-bench", "--onnx", int8, "--versus", fp32, "--iters", "1", "--warmup", "0",
                      "--frame-size", "input", "--no-plot", "--out", tmp_path, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "onnxruntime int8" in res.stdout and "onnxruntime fp32" in res.stdout
    assert "agreement (measured by dsl-export): int8 vs fp32" in res.stdout
    doc = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert doc["ours"]["spec"]["precision"] == "int8" and doc["peer"]["spec"]["precision"] == "fp32"
    assert doc["precision"]["ours"]["precision"] == "int8" and doc["settings"]["versus"] == str(fp32)
    assert doc["comparison"]["vs_peer"]["inference"] > 0


def test_precision_needs_the_demo(tmp_path, pair):
    res = run_command("dsl-bench", "--onnx", pair[0], "--precision", "int8", cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1 and "--precision: applies to --demo" in lines[0], res.stderr
