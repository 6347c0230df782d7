"""dsl-bench through the installed console command, on a small exported model."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from dsl_testing.commands import run_command

SIZE = 97


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_command("dsl-bench", *args, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch = pytest.importorskip("torch")
    from dsl_deploy.export import export_onnx
    from dsl_deploy.model import build_model
    from dsl_deploy.model.checkpoint import save_checkpoint
    from dsl_deploy.spec import default_spec

    folder = tmp_path_factory.mktemp("bench-model")
    spec = default_spec("resnet18", SIZE)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    save_checkpoint(folder / "m.pth", model, spec, {"seed": 0})
    export_onnx(model, spec, folder / "m.onnx", simplify=False)
    return folder / "m.pth", folder / "m.onnx"


def test_help_explains_options(tmp_path):
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0
    for option in ("--engine", "--onnx", "--checkpoint", "--demo", "--reference", "--iters", "--warmup",
                   "--threads", "--batch", "--json", "--fields"):
        assert option in r.stdout


def test_unusable_cuda_decoder_fails_before_measuring(tmp_path):
    from dsl_deploy.decode.cuda import is_available

    if is_available():
        pytest.skip("the CUDA decoder is usable here")
    (tmp_path / "m.onnx").write_text("never loaded")
    r = run("--onnx", "m.onnx", "--decoder", "cuda", "--out", "res", cwd=tmp_path)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("dsl-bench: error: cuda decoder:") and "[dsl-bench] measuring" not in r.stderr


def test_every_option_with_a_default_states_it():
    from dsl_deploy.cli.bench import build_parser

    for action in build_parser()._actions:
        if action.default not in (None, False, "==SUPPRESS==") and action.option_strings:
            assert "default" in (action.help or ""), action.option_strings


@pytest.mark.parametrize("args, message", [
    ([], "nothing to measure"),
    (["--onnx", "missing.onnx"], "missing.onnx: no such file"),
    (["--onnx", "m.onnx", "--iters", "0"], "--iters: expected a positive number"),
    (["--checkpoint", "m.onnx"], "this is an onnx file by its suffix; use --onnx"),
    (["--onnx", "m.onnx", "--frame-size", "wide"], "--frame-size: expected WxH such as 1920x1080 (or 'input')"),
    (["--onnx", "m.onnx", "--frame-size", "20x20"], "--frame-size: 20x20 is outside 33..8192 on a side"),
    (["--demo", "--architecture", "heavy"], "--architecture: 'heavy'; expected one or more of deepsportlab, light"),
    (["--onnx", "m.onnx", "--architecture", "light"], "--architecture: applies to --demo only"),
    (["--demo", "--architecture", "deepsportlab,light", "--json", "r.json"], "--json: names one result file"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    r = run(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unreadable_model_and_bad_out_fail_with_one_line_and_no_results(tmp_path):
    (tmp_path / "junk.onnx").write_text("not an onnx model")
    r = run("--onnx", "junk.onnx", "--no-peer", "--no-plot", "--iters", "1", "--warmup", "0", "--out", "res",
            cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    # The worker names the model by its absolute path (it runs in a folder of its own).
    assert re.match(r"dsl-bench: error: \S*/junk\.onnx: not a readable ONNX model", r.stderr.strip().splitlines()[-1])
    assert r.stdout == "" and not (tmp_path / "res").exists()  # F12: no result folder when the model fails
    r = run("--onnx", "junk.onnx", "--out", "junk.onnx", cwd=tmp_path)
    assert r.returncode != 0 and r.stderr.strip() == ("dsl-bench: error: --out junk.onnx: is the measured artifact "
                                                      "file; writing there would destroy it")
    (tmp_path / "file").write_text("")
    r = run("--onnx", "junk.onnx", "--out", "file", cwd=tmp_path)
    assert r.returncode != 0 and r.stderr.strip() == "dsl-bench: error: --out file: exists and is not a folder"


@pytest.mark.slow
def test_onnx_against_torch_reference(tmp_path, small_model):
    pth, onnx = small_model
    out = tmp_path / "r.json"
    r = run("--onnx", str(onnx), "--reference", str(pth), "--iters", "2", "--warmup", "1", "--json", str(out),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    ours, peer = doc["ours"], doc["peer"]
    assert ours["backend"] and "torch" in peer["case"]["label"]
    assert ours["torch_imported"] is False  # the runtime path of the measured pipeline stays off torch
    assert ours["ms"]["total"]["n"] == 2 and ours["ms"]["total"]["median"] > 0
    for stage in ("preprocess", "inference", "decode", "total"):
        assert doc["comparison"]["vs_peer"][stage] is not None
    assert set(doc["max_abs_error_vs_peer_backend"]) == {"player", "offset", "pif"}
    assert max(doc["max_abs_error_vs_peer_backend"].values()) < 1e-3
    assert "ground truth" in ours["decode_fields"]
    assert doc["machine"]["versions"]["onnxruntime"]
    assert out.with_suffix(".png").exists()
    assert "DeepSportLab" in r.stdout and "peer/ours" in r.stdout


@pytest.mark.slow
def test_demo_builds_once_and_reuses(tmp_path):
    pytest.importorskip("torch")
    env = {"DSL_CACHE_DIR": str(tmp_path / "cache")}
    args = ("--demo", "--backbone", "resnet18", "--size", str(SIZE), "--iters", "1", "--warmup", "0", "--no-peer",
            "--no-plot", "--out", str(tmp_path / "res"))
    # The authors' network, then the light one, in one command: one table and one result file each.
    first = run(*args, "--architecture", "deepsportlab,light", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("exported ONNX") == 2
    for name in ("deepsportlab", "light"):
        assert f"network: {name} resnet18 at {SIZE}x{SIZE}" in first.stdout
    second = run(*args, cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "reusing" in second.stderr and "network: deepsportlab" in second.stdout
    results = sorted((tmp_path / "res").glob("bench-*.json"))
    assert len(results) == 2 and results[0].name.endswith(f"-deepsportlab-resnet18-{SIZE}.json")
    assert results[1].name.endswith(f"-light-resnet18-{SIZE}.json")
    for path, name in zip(results, ("deepsportlab", "light")):
        doc = json.loads(path.read_text())
        assert doc["settings"]["demo"] is True and doc["settings"]["architecture"] == name
        assert doc["ours"]["spec"]["architecture"] == name


def test_f12_no_benchmarks_results_folder_when_the_model_fails_to_load(tmp_path):
    (tmp_path / "junk.onnx").write_text("not an onnx model")
    r = run("--onnx", "junk.onnx", "--no-peer", "--no-plot", "--iters", "1", "--warmup", "0", cwd=tmp_path)
    assert r.returncode != 0 and "not a readable ONNX model" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.onnx"]  # ./benchmarks/results was made before
