"""benchmarks/bench_decoder_ab.py builds a git revision's decoder beside the working tree's and runs both (not
timed): the outputs must agree and the result file be complete."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from dsl_testing.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def _git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    res = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "HEAD"], capture_output=True)
    return res.returncode == 0


@pytest.mark.skipif(not _git_checkout(), reason="needs git and a git checkout of the project")
@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler")
def test_head_against_the_working_tree(tmp_path: Path, capsys) -> None:
    bench = load_script("benchmarks/bench_decoder_ab.py")
    out = tmp_path / "ab.json"
    rc = bench.main(["--base", "HEAD", "--frame-size", "320x240", "--size", "129", "--players", "2", "--scenes", "2",
                     "--passes", "2", "--out", str(out)])
    report = json.loads(out.read_text())
    assert rc == 0 and report["outputs_identical"] == "2 of 2 scenes"
    assert len(report["settings"]["base_commit"]) == 40
    for build in ("base", "new"):
        assert report["ms"][build]["total"]["n"] == 4  # 2 passes x 2 scenes
    assert set(report["base_over_new"]) == set(bench.STAGES)
    assert "outputs identical: 2 of 2 scenes" in capsys.readouterr().out


def test_an_unknown_revision_is_named() -> None:
    bench = load_script("benchmarks/bench_decoder_ab.py")
    if not _git_checkout():
        pytest.skip("needs git and a git checkout of the project")
    with pytest.raises(SystemExit, match="no-such-revision"):
        bench.main(["--base", "no-such-revision", "--passes", "1"])
