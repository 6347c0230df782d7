"""benchmarks/bench_host.py runs end to end in its quick mode and writes a complete result (not timed), so it
cannot go stale unnoticed again."""
from __future__ import annotations

import json
from pathlib import Path

from dsl_testing.scripts import load_script

from dsl_deploy.bench.host import HOST_PATHS, HOST_STAGES


def test_quick_run_measures_every_stage_of_both_paths(tmp_path: Path, capsys) -> None:
    bench = load_script("benchmarks/bench_host.py")
    out = tmp_path / "host.json"
    # Small frames and network, few players: seconds, not the benchmark's 1080p (the same code path).
    assert bench.main(["--quick", "--frame-size", "640x360", "--size", "193", "--players", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["ms"]) == set(HOST_PATHS)
    for path in HOST_PATHS:
        assert set(HOST_STAGES) | {"host", "host_cpu"} <= set(report["ms"][path])
        assert report["ms"][path]["host"]["n"] == report["settings"]["frames"] == 12
        assert set(report["cpu_ms_per_stage"][path]) == set(HOST_STAGES)
        assert report["players_decoded_median"][path] > 0
    assert report["preprocess_uint8_input_ms"]["n"] == 12 and report["preprocess_fast_opencv_cpu_ms"]["n"] == 12
    # Both paths decode the same fields: their JSON lines (timings aside) must be identical on every scene.
    same, of, total, scenes = report["json_lines_identical"].split()
    assert (of, scenes) == ("of", "scenes") and same == total and int(total) > 0
    assert {"fast_host_median_ms", "fast_host_cpu_median_ms", "met_wall", "met_cpu"} <= set(report["goal"])
    assert "wrote" in capsys.readouterr().out
