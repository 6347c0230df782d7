import json

from dsl_deploy.bench.paper import PAPER_TABLE_1
from dsl_deploy.bench.report import format_table, write_json, write_plot
from dsl_deploy.bench.stats import summarize
from dsl_deploy.bench.suite import compare


def _result(label, scale, rss):
    ms = {"preprocess": summarize([1.0 * scale, 1.2 * scale]), "inference": summarize([10.0 * scale, 11.0 * scale]),
          "decode": summarize([2.0 * scale, 2.5 * scale]), "decode.fuse": summarize([1.0 * scale, 1.5 * scale]),
          "total": summarize([13.0 * scale, 14.7 * scale])}
    return {"case": {"label": label}, "ms": ms, "fps": 1000 / ms["total"]["median"],
            "memory": {"peak_rss_mb": rss}, "players_decoded_median": 10.0}


def _doc():
    ours, peer = _result("ours", 1.0, 300.0), _result("peer", 10.0, 900.0)
    return {"machine": {"cpu": "test cpu"}, "ours": ours, "peer": peer, "max_abs_error_vs_peer_backend": {"pif": 1e-5},
            "comparison": compare(ours, peer)}


def test_compare_ratios():
    cmp = _doc()["comparison"]
    assert abs(cmp["vs_peer"]["total"] - 10.0) < 1e-9
    assert abs(cmp["vs_peer"]["memory"] - 3.0) < 1e-9
    assert abs(cmp["vs_paper"]["total_speedup"] - 436.0 / 13.85) < 1e-6


def test_table_shows_stages_ratio_and_paper():
    text = format_table(_doc())
    assert "decode.fuse" in text and "10.0x" in text
    for row in PAPER_TABLE_1:
        assert row.method in text
    assert "pif 1.00e-05" in text


def test_failed_case_is_reported():
    doc = _doc()
    doc["peer"] = {"case": {"label": "peer"}, "error": "boom"}
    doc["comparison"] = compare(doc["ours"], doc["peer"])
    assert "peer: FAILED: boom" in format_table(doc)
    assert "vs_peer" not in doc["comparison"]


def test_json_and_plot(tmp_path):
    doc = _doc()
    path = write_json(doc, tmp_path / "r" / "x.json")
    assert json.loads(path.read_text())["ours"]["case"]["label"] == "ours"
    png = write_plot(doc, tmp_path / "r" / "x.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paper_memory_prefers_the_gpu_figure():
    ours = _result("ours", 1.0, 300.0)
    ours["memory"].update(engine_device_mb=120.0, gpu_used_peak_mb=450.0)
    vs = compare(ours, None)["vs_paper"]
    assert vs["memory_measure"] == "gpu_used_peak_mb"
    assert abs(vs["memory_ratio"] - 1757.0 / 450.0) < 1e-9
    text = format_table({"machine": {"cpu": "x"}, "ours": ours, "peer": None, "comparison": {"vs_paper": vs}})
    assert "GPU in use, peak [MB]" in text and "engine device [MB]" in text


def test_host_stages_and_frames_line():
    doc = _doc()
    for res, name in ((doc["ours"], "fast"), (doc["peer"], "today")):
        res["ms"].update(map=summarize([0.3, 0.4]), serialise=summarize([0.1, 0.2]), host=summarize([3.0, 3.5]))
        res["frames"] = {"width": 1920, "height": 1080, "read": "none", "host_path": {"name": name}}
    doc["comparison"] = compare(doc["ours"], doc["peer"])
    text = format_table(doc)
    assert "frames 1920x1080, read: none; host path: ours fast, peer today" in text
    rows = [line.split()[0] for line in text.splitlines()[3:10]]
    assert rows == ["preprocess", "inference", "decode", "decode.fuse", "map", "serialise", "total"]
    assert "read" not in doc["comparison"]["vs_peer"] and abs(doc["comparison"]["vs_peer"]["host"] - 1.0) < 1e-9
