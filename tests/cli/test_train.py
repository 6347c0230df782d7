"""dsl-train training runs through the installed console command: checkpoints, --resume, Ctrl-C, errors."""
from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dsl_testing.commands import installed, run_command

pytestmark = pytest.mark.torch
# The smallest useful run: resnet18 at 65 x 65, two images per step, a tiny validation set.
TINY = ["--data", "synthetic:6", "--val-data", "synthetic:2", "--backbone", "resnet18", "--size", "65",
        "--batch-size", "2", "--device", "cpu", "--threads", "1", "--no-progress"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_command("dsl-train", *args, cwd=cwd)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_train_writes_checkpoints_and_resume_continues(tmp_path):
    from dsl_deploy.model import load_checkpoint

    out = tmp_path / "run"
    res = run(*TINY, "--epochs", "1", "--steps-per-epoch", "2", "--out-dir", str(out))
    assert res.returncode == 0, res.stderr
    assert "val untrained" in res.stdout and "train loss" in res.stdout
    assert "1 thread(s)" in res.stdout and "1 torch thread(s)" in res.stdout  # --threads took effect
    for name in ("last.pth", "best.pth", "log.csv", "config.toml"):
        assert (out / name).is_file(), name
    ckpt = load_checkpoint(out / "last.pth")
    assert ckpt.spec.backbone == "resnet18" and ckpt.spec.input.width == 65
    assert (ckpt.train["step"], ckpt.train["epoch"], ckpt.train["epoch_step"]) == (2, 1, 0)
    assert ckpt.train["config"]["model"]["size"] == 65 and "optimizer" in ckpt.train
    assert len(ckpt.train["history"]) == 2  # untrained baseline + epoch 1

    res = run("--resume", str(out / "last.pth"), "--epochs", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    resumed = load_checkpoint(out / "last.pth")
    assert (resumed.train["step"], resumed.train["epoch"]) == (4, 2)
    assert resumed.train["finished"] is True
    steps = [int(r["step"]) for r in _rows(out / "log.csv") if r["split"] == "train"]
    assert steps == [1, 2, 3, 4]
    weights = resumed.model.state_dict()["base_net.net.1.0.conv1.weight"]
    assert not weights.equal(ckpt.model.state_dict()["base_net.net.1.0.conv1.weight"])


@pytest.mark.slow
def test_ctrl_c_writes_a_resumable_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([installed("dsl-train"), *TINY, "--val-data", "none", "--epochs", "1",
                             "--steps-per-epoch", "200", "--out-dir", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "log.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and any(r["split"] == "train" for r in _rows(log)):
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-train: error: interrupted at epoch 1"), stderr
    assert "--resume" in lines[0]

    from dsl_deploy.model import load_checkpoint
    ckpt = load_checkpoint(out / "last.pth")
    t = ckpt.train
    assert t["interrupted"] is True and t["epoch"] == 0 and 1 <= t["step"] == t["epoch_step"] < 200


@pytest.mark.parametrize("config, extra, message", [
    ("[optim]\nlrr = 0.1\n", [], "unknown key 'optim.lrr'"),
    ("[run]\nepochs = 'two'\n", [], "'run.epochs' expected int"),
    ("", ["--data", "coco:{tmp}/missing.json"], "coco data path"),
])
def test_bad_input_gives_one_line(tmp_path, config, extra, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config)
    res = run("--config", str(cfg), *[e.format(tmp=tmp_path) for e in extra], "--out-dir", str(tmp_path / "o"))
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-train: error:") and message in lines[0], res.stderr
    assert not (tmp_path / "o" / "last.pth").exists()
