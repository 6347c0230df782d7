"""The benchmark worker process: results, errors and Ctrl-C."""
from __future__ import annotations

import json

import pytest

from dsl_deploy.bench import worker
from dsl_deploy.bench.cases import Case
from dsl_deploy.errors import ArtifactError


def _case_file(tmp_path):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(Case(label="x", artifact="m.onnx").to_dict()))
    return path


def test_a_dsl_error_becomes_the_result(tmp_path, monkeypatch: pytest.MonkeyPatch):
    def fail(case):
        raise ArtifactError("m.onnx: broken")
    monkeypatch.setattr(worker, "run_case", fail)
    assert worker.main([str(_case_file(tmp_path)), str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["error"] == "m.onnx: broken"


def test_ctrl_c_exits_130_without_a_traceback_or_result(tmp_path, monkeypatch: pytest.MonkeyPatch):
    def interrupted(case):
        raise KeyboardInterrupt
    monkeypatch.setattr(worker, "run_case", interrupted)
    assert worker.main([str(_case_file(tmp_path)), str(tmp_path / "r.json")]) == 130
    assert not (tmp_path / "r.json").exists()


def test_worker_runs_outside_a_shadowing_checkout(tmp_path, monkeypatch):
    """A dsl_deploy folder in the caller's working directory must not be what the worker imports."""
    import json
    from pathlib import Path

    from dsl_deploy.bench.cases import Case
    from dsl_deploy.bench.suite import run_isolated

    fake = tmp_path / "cwd" / "dsl_deploy"
    (fake / "bench").mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('the shadowing checkout was imported')\n")
    (fake / "bench" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path / "cwd")
    work = tmp_path / "work"
    work.mkdir()
    result = run_isolated(Case(label="x", artifact=str(tmp_path / "missing.onnx")), work)
    # The real package ran (and refused the missing model); the fake one would have crashed the worker.
    assert "missing.onnx" in result.get("error", ""), result
    assert Path(work).exists() and json.dumps(result)
