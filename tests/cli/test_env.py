"""dsl-env: reports every component, and never crashes on one that is missing."""
from __future__ import annotations

import json
import subprocess
import sys

from dsl_testing.commands import run_command




def test_prints_every_component():
    res = run_command("dsl-env", "--json", timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for key in ("Python", "CPU", "numpy", "OpenCV", "ONNX Runtime", "torch", "torchvision", "onnx",
                "TensorRT", "cuda-python", "native decoder", "CUDA decoder", "GPU"):
        assert report[key], key
    assert "CPUExecutionProvider" in report["ONNX Runtime"]


def test_plain_output_has_one_line_per_component(capsys):
    from dsl_deploy.cli.env import collect, main
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(collect()) and lines[0].startswith("dsl_deploy ")
    assert any(line.startswith("ONNX Runtime") and "CPUExecutionProvider" in line for line in lines)


def test_missing_packages_say_not_installed():
    code = ("import sys, json\n"
            "for m in ('torch', 'torchvision', 'onnxruntime', 'tensorrt', 'cv2'): sys.modules[m] = None\n"
            "from dsl_deploy.cli.env import collect\n"
            "r = collect()\n"
            "print(json.dumps([r['torch'], r['ONNX Runtime'], r['OpenCV'], r['TensorRT']]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["not installed"] * 4
