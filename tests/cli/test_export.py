"""dsl-export through the installed console command: export + parity, --info, errors, and resnet50 @641."""
from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest

from dsl_testing.commands import run_command

pytestmark = pytest.mark.torch

PARITY = re.compile(r"parity: (\w+) .* max abs diff (\S+) \(ok")


def run(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_command(name, *args, cwd=cwd, timeout=600)


def assert_one_error_line(res: subprocess.CompletedProcess, message: str) -> None:
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-export: error:") and message in lines[0], res.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from dsl_deploy.model import build_model, save_checkpoint
    from dsl_deploy.spec import default_spec
    spec = default_spec("resnet18", 129)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cli-export") / "small.pth"
    save_checkpoint(path, build_model(spec), spec, {"seed": 0})
    return path


def test_export_checks_parity_and_prints_next_steps(checkpoint):
    from dsl_deploy.backends.onnxruntime import OnnxRuntimeBackend
    out = checkpoint.with_name("small.onnx")
    res = run("dsl-export", str(checkpoint), "-o", str(out))
    assert res.returncode == 0, res.stderr
    diffs = dict(PARITY.findall(res.stdout))
    assert set(diffs) == {"player", "offset", "pif"} and max(map(float, diffs.values())) < 1e-3
    for step in ("loaded", "export:", "simplify:", "wrote", "parity ok"):
        assert step in res.stdout
    for nxt in (f"dsl-build {out}", f"dsl-bench --onnx {out}", f"dsl-infer SRC --model {out}"):
        assert nxt in res.stdout
    backend = OnnxRuntimeBackend(out)
    assert backend.spec.backbone == "resnet18" and backend.spec.input.width == 129


def test_authors_checkpoint_exports_and_malicious_pickle_is_one_line(tmp_path):
    """The authors' whole-model .pkl (stand-in classes under their module paths) -> ONNX with their spec."""
    torch = pytest.importorskip("torch")
    from dsl_testing.authors_net import authors_network, save_authors_checkpoint

    from dsl_deploy.backends.onnxruntime import OnnxRuntimeBackend
    pkl, out = tmp_path / "resnet18-cifcent-pan-ball-edge65.pkl", tmp_path / "authors.onnx"
    save_authors_checkpoint(pkl, authors_network("resnet18", seed=3), square_edge=65)
    res = run("dsl-export", str(pkl), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "(deepsportlab resnet18, authors' checkpoint)" in res.stdout and "parity ok" in res.stdout
    spec = OnnxRuntimeBackend(out).spec
    assert (spec.architecture, spec.backbone, spec.input.width) == ("deepsportlab", "resnet18", 65)

    class Evil:
        def __reduce__(self):
            return print, ("ran",)

    torch.save({"model": Evil(), "epoch": 1}, pkl)
    assert_one_error_line(run("dsl-export", str(pkl)), "refused: the file names builtins.print")


def test_info_prints_params_and_gflops_and_warns_on_misfit_size(checkpoint):
    before = set(checkpoint.parent.iterdir())
    res = run("dsl-export", "--info", str(checkpoint), "--size", "136")
    assert res.returncode == 0, res.stderr
    assert re.search(r"parameters\s+[\d,]+ \(\d+\.\d\d M\)", res.stdout)
    assert re.search(r"GFLOPs\s+\d+\.\d\d", res.stdout) and "136x136" in res.stdout
    assert re.search(r"architecture\s+deepsportlab", res.stdout)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not fit the network strides" in lines[0]
    assert set(checkpoint.parent.iterdir()) == before  # --info writes nothing


def test_help_explains_every_option():
    res = run("dsl-export", "--help")
    assert res.returncode == 0
    for option in ("--output", "--info", "--opset", "--size", "--no-simplify", "--atol", "--no-parity",
                   "--static-batch", "--exporter"):
        assert option in res.stdout
    assert res.stdout.count("default") >= 6


def test_bad_inputs_give_one_line(checkpoint, tmp_path):
    assert_one_error_line(run("dsl-export", str(tmp_path / "missing.pth")), "no such checkpoint file")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint" * 100)
    assert_one_error_line(run("dsl-export", str(junk)), "not a dsl_deploy checkpoint")
    assert_one_error_line(run("dsl-export", str(checkpoint), "--atol", "0"), "--atol")
    assert_one_error_line(run("dsl-export", str(checkpoint), "-o", str(tmp_path / "m.txt")), "should end in .onnx")


@pytest.mark.slow
def test_resnet50_641_end_to_end(tmp_path):
    """The paper's network at the paper's size: dsl-train --init-only, then dsl-export with parity."""
    onnx = pytest.importorskip("onnx")
    pth, out = tmp_path / "m.pth", tmp_path / "m.onnx"
    res = run("dsl-train", "--init-only", "--backbone", "resnet50", "-o", str(pth))
    assert res.returncode == 0, res.stderr
    res = run("dsl-export", str(pth), "-o", str(out))
    assert res.returncode == 0, res.stderr
    diffs = dict(PARITY.findall(res.stdout))
    assert set(diffs) == {"player", "offset", "pif"} and max(map(float, diffs.values())) < 1e-3
    shapes = dict(re.findall(r"parity: (\w+) +(\([\d, ]+\))", res.stdout))
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    from dsl_deploy.spec import ModelSpec, default_spec
    meta = {p.key: p.value for p in proto.metadata_props}
    spec = ModelSpec.from_json(meta["dsl_deploy.spec"])
    assert spec == default_spec("resnet50", 641)
    # The shapes ONNX Runtime returned in the parity check, and the ones the graph declares.
    assert {k: ast.literal_eval(v) for k, v in shapes.items()} == spec.output_shapes(1)
    declared = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output}
    assert declared == {k: ["batch", *v[1:]] for k, v in spec.output_shapes().items()}


def test_f12_an_onnx_file_is_not_taken_for_a_checkpoint(tmp_path):
    model = tmp_path / "x.onnx"
    model.write_bytes(b"\x08\x08onnx")
    res = run("dsl-export", str(model))
    assert_one_error_line(res, "x.onnx: is an ONNX model, not a checkpoint")
    assert "dsl-build" in res.stderr and "not a torch zip archive" not in res.stderr


def test_f12_a_full_disk_is_said_as_such_not_as_an_opset_problem(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    from dsl_deploy.cli import export

    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"\x00" * 4096)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(1 << 30, 1 << 30, 1024))
    assert export.main([str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert "model.onnx: the disk is full: 0 MB free" in err and "the opset is not the problem" in err
    assert "--opset" not in err and not (tmp_path / "model.onnx").exists()


def test_f1_export_output_that_is_the_checkpoint_under_another_name_is_refused(tmp_path):
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"\x00" * 64)
    os.link(ckpt, tmp_path / "model.onnx")
    assert_one_error_line(run("dsl-export", str(ckpt)), "model.onnx: is the checkpoint file under another name")
    assert ckpt.read_bytes() == b"\x00" * 64
