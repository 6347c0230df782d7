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
