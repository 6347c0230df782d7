"""dsl-train --init-only through the installed console command."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dsl_testing.commands import run_command

pytestmark = pytest.mark.torch


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_command("dsl-train", *args, cwd=cwd)


def test_init_only_is_seeded(tmp_path):
    torch = pytest.importorskip("torch")
    from dsl_deploy.model import build_model, load_checkpoint
    path = tmp_path / "seed1.pth"
    res = run("--init-only", "--backbone", "resnet18", "--size", "129", "--seed", "1", "-o", str(path))
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "dsl-export" in res.stdout
    ckpt = load_checkpoint(path)
    assert ckpt.spec.backbone == "resnet18" and ckpt.spec.input.width == 129
    assert ckpt.spec.architecture == "deepsportlab" and "deepsportlab resnet18" in res.stdout
    assert ckpt.train["seed"] == 1 and ckpt.train["init_only"] is True
    saved = ckpt.model.state_dict()
    torch.manual_seed(1)
    same = build_model(ckpt.spec).state_dict()
    torch.manual_seed(0)
    other = build_model(ckpt.spec).state_dict()
    assert all(torch.equal(saved[k], same[k]) for k in saved)
    key = "base_net.net.1.0.conv1.weight"
    assert not torch.equal(saved[key], other[key])


def test_init_only_light_architecture(tmp_path):
    pytest.importorskip("torch")
    from dsl_deploy.model import LightNet, load_checkpoint
    path = tmp_path / "light.pth"
    res = run("--init-only", "--architecture", "light", "--backbone", "resnet18", "--size", "65", "-o", str(path))
    assert res.returncode == 0, res.stderr
    ckpt = load_checkpoint(path)
    assert ckpt.spec.architecture == "light" and isinstance(ckpt.model, LightNet)


def test_help_explains_every_option():
    res = run("--help")
    assert res.returncode == 0
    for option in ("--init-only", "--architecture", "--backbone", "--size", "--seed", "--backbone-weights", "--output"):
        assert option in res.stdout
    assert "default" in res.stdout


@pytest.mark.parametrize("args,message", [
    (["--init-only", "--size", "16", "-o", "x.pth"], "--size: expected at least 33"),
    (["--init-only", "-o", "missing-folder/x.pth"], "does not exist"),
    (["--init-only", "-o", "x.onnx"], "should end in .pth"),
    (["--init-only", "--backbone-weights", "nope.pth", "--backbone", "resnet18", "--size", "129", "-o", "x.pth"],
     "backbone weight file not found"),
    ([], "no training data: training is not available without --data"),
])
def test_bad_arguments_give_one_line(args, message, tmp_path):
    res = run(*args, cwd=tmp_path)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-train: error:") and message in lines[0], res.stderr
    assert not (tmp_path / "x.pth").exists()
