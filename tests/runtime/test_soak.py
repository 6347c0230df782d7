"""Soak: thousands of frames of a synthetic video through the pipeline, in a subprocess without torch.

Resident memory must stop growing after warm-up, and the JSON-lines output must hold every frame
exactly once, in order. The model is a real exported resnet18 network (exported here when torch is
installed, at 65x65 to keep the run short); without torch the stand-in ONNX model is used.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from dsl_deploy.data.synthetic import SyntheticScenes

FRAMES = 2000
SAMPLE_EVERY = 100
WARMUP = FRAMES // 2  # memory is compared over the second half
MAX_GROWTH_MB = 4.0


@pytest.fixture(scope="module")
def soak_model(tmp_path_factory, fake_onnx: Path) -> Path:
    if importlib.util.find_spec("torch") is None:
        return fake_onnx
    import torch

    from dsl_deploy.export.onnx_export import export_onnx
    from dsl_deploy.model.network import build_model
    from dsl_deploy.spec import default_spec

    spec = default_spec("resnet18", 65, "light")  # the lighter network: the soak measures memory, not the net
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("soak") / "resnet18_65.onnx"
    export_onnx(build_model(spec).eval(), spec, path, simplify=False)
    return path


@pytest.fixture(scope="module")
def soak_video(tmp_path_factory) -> Path:
    scenes = SyntheticScenes(seed=3, width=129, height=129)
    images = [scenes[i][0] for i in range(16)]
    path = tmp_path_factory.mktemp("soak") / "scenes.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (129, 129))
    for i in range(FRAMES):
        writer.write(images[i % len(images)])
    writer.release()
    return path


@pytest.mark.slow
def test_soak_memory_is_flat_and_no_frame_is_lost(soak_model: Path, soak_video: Path, tmp_path: Path):
    out = tmp_path / "soak.jsonl"
    worker = Path(__file__).with_name("soak_worker.py")
    proc = subprocess.run([sys.executable, str(worker), str(soak_model), str(soak_video), str(out),
                           str(SAMPLE_EVERY)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch_loaded"] is False

    frames = []
    with out.open() as f:
        for line in f:
            frames.append(json.loads(line)["frame"])
    assert frames == list(range(FRAMES))  # none lost, none duplicated, in order

    stats = report["stats"]
    assert (stats["frames"], stats["dropped"], stats["corrupt"]) == (FRAMES, 0, 0)

    after_warmup = [mb for n, mb in report["samples"] if n >= WARMUP]
    if None in after_warmup:
        pytest.skip("frames all came through once each, but this kernel reports no current RSS "
                    "(neither VmRSS nor /proc/self/statm), so memory growth cannot be checked")
    growth = max(after_warmup) - after_warmup[0]
    assert growth < MAX_GROWTH_MB, f"resident memory grew {growth:.2f} MB over the second half: {report['samples']}"
