"""benchmarks/bench_stream.py: runs end to end on a stand-in model and writes a complete result (not timed)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.spec import default_spec
from dsl_testing.onnx_models import write_disc_model
from dsl_testing.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_stream.py"


def _module():
    return load_script("benchmarks/bench_stream.py")


def test_scene_fields_runs_the_network_and_replays_fields_in_order():
    bench = _module()

    class Counting:
        spec, name, calls = default_spec("resnet18", 33), "fake", 0

        def infer(self, batch):
            Counting.calls += 1
            return {"player": batch}

        def close(self):
            pass

    fields = [{"player": np.full((1, 2, 2), i, np.float32)} for i in range(3)]
    backend = bench.SceneFields(Counting(), fields)
    batch = np.zeros((1, 3, 33, 33), np.float32)
    seen = [int(backend.infer(batch)["player"][0, 0, 0, 0]) for _ in range(5)]
    assert seen == [0, 1, 2, 0, 1] and Counting.calls == 5
    assert backend.infer(batch)["player"].shape == (1, 1, 2, 2)  # the batch dimension is added
    with pytest.raises(InputError, match="expected shape"):  # the base Backend checks every batch once
        backend.infer(np.zeros(1, np.float32))


def test_quick_run_on_a_stand_in_model(tmp_path: Path):
    pytest.importorskip("onnx", reason="the stand-in model is written with onnx (the train extra)")
    model = tmp_path / "discs.onnx"
    write_disc_model(model, 65)
    out = tmp_path / "stream.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--onnx", str(model), "--frames", "4", "--repeats", "2",
                           "--threads", "1", "--frame-size", "160x90", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["machine"]["cores"] >= 1 and doc["settings"]["frame_size"] == [160, 90]
    assert [case["host_path"] for case in doc["cases"]] == ["today", "fast"]
    for case in doc["cases"]:
        assert case["ort_threads"] == 1 and case["slowest_stage"] in ("preprocess", "inference", "decode+map")
        for key in ("frame_by_frame_fps", "stream_fps", "stream_bound_fps"):
            assert 0 < case[key]["min"] <= case[key]["median"] <= case[key]["max"]
        assert case["speedup_median"] > 0 and "inference" in case["stage_ms_last_stream"]
    assert doc["fast_over_today_fps"]["1"]["stream"] > 0


def test_bad_options_are_refused():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--frame-size", "big"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--frame-size: expected WxH" in proc.stderr
    proc = subprocess.run([sys.executable, str(SCRIPT), "--paths", "today,slow"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--paths: expected names among today, fast" in proc.stderr
