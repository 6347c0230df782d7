"""Sinks: whole JSON lines, an atomic COCO file that pycocotools reads, overlays as images or a video."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.result import Ball, FrameResult
from dsl_deploy.metrics.coco_format import coco_record
from dsl_deploy.runtime.sinks import CocoSink, JsonLinesSink, RenderSink, SinkClosed, check_writable, frame_record
from dsl_deploy.runtime.sources import Frame

H, W = 60, 80


def _result(index: int) -> FrameResult:
    labels = np.zeros((H, W), np.int32)
    labels[10:30, 20:35] = 1
    labels[35:55, 50:70] = 2
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 0] = (27, 12, 0.9)
    kp[1, 15] = (60, 54, 0.5)
    return FrameResult(labels=labels, keypoints=kp, scores=np.array([0.9, 0.6], np.float32),
                       boxes=np.array([[20, 10, 35, 30], [50, 35, 70, 55]], np.float32),
                       areas=np.array([300, 400], np.int64), centers=np.array([[27, 20], [60, 45]], np.float32),
                       ball=Ball(5.0, 6.0, 0.4), timings={"total": 1.0}, frame_index=index, timestamp=index / 25)


def _frame(index: int) -> Frame:
    return Frame(index, np.full((H, W, 3), 40, np.uint8), "match.mp4", index / 25)


def test_json_lines_one_whole_record_per_frame(tmp_path: Path):
    path = tmp_path / "out.jsonl"
    with JsonLinesSink(path) as sink:
        for i in range(3):
            sink.write(_frame(i), _result(i))
        assert len(path.read_text().splitlines()) == 3  # flushed as written, before close
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["frame"] for d in lines] == [0, 1, 2]
    first = lines[0]
    assert first["source"] == "match.mp4" and first["timestamp"] == 0.0 and first["size"] == [H, W]
    assert [p["id"] for p in first["players"]] == [1, 2] and first["players"][0]["mask"]["size"] == [H, W]
    assert first["ball"] == {"x": 5.0, "y": 6.0, "score": 0.4}
    with pytest.raises(SinkClosed):
        sink.write(_frame(3), _result(3))


def test_json_lines_without_masks_and_bad_mode(tmp_path: Path):
    rec = frame_record(_frame(0), _result(0), masks=False)
    assert "mask" not in rec["players"][0]
    with pytest.raises(InputError, match="masks"):
        JsonLinesSink(tmp_path / "x.jsonl", masks="polygon")


def test_json_lines_to_a_closed_stdout_or_a_full_disk_is_one_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.stdout", None)
    with pytest.raises(InputError, match="standard output is closed"):
        JsonLinesSink("-")
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (a device that is always full)")
    sink = JsonLinesSink("/dev/full")
    with pytest.raises(InputError, match="/dev/full: cannot write the JSON lines"):
        sink.write(_frame(0), _result(0))
    sink.close()
    with pytest.raises(SinkClosed):
        sink.write(_frame(1), _result(1))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own numpy-2 deprecation
def test_coco_file_is_atomic_and_loads_in_pycocotools(tmp_path: Path):
    coco = pytest.importorskip("pycocotools.coco")
    mask_utils = pytest.importorskip("pycocotools.mask")
    path = tmp_path / "results.json"
    sink = CocoSink(path)
    sink.write(_frame(0), _result(0))
    sink.write(_frame(1), _result(1))
    assert not path.exists()  # written on close only, never half-written
    sink.close()
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind
    records = json.loads(path.read_text())
    assert len(records) == 4 and records[0]["bbox"] == [20.0, 10.0, 15.0, 20.0]
    assert len(records[0]["keypoints"]) == 51 and records[0]["file_name"] == "match.mp4"
    decoded = mask_utils.decode(records[1]["segmentation"])
    np.testing.assert_array_equal(decoded.astype(bool), _result(0).mask(1))
    gt = coco.COCO()
    gt.dataset = {"images": [{"id": 0, "height": H, "width": W}, {"id": 1, "height": H, "width": W}],
                  "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    gt.createIndex()
    loaded = gt.loadRes(str(path))
    assert len(loaded.getAnnIds()) == 4


def test_coco_record_without_masks_and_missing_folder(tmp_path: Path):
    assert "segmentation" not in coco_record(_result(0), 3, masks=False)[0]
    assert coco_record(_result(0), 3)[0]["image_id"] == 3
    with pytest.raises(InputError, match="does not exist"):
        CocoSink(tmp_path / "nope" / "r.json")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (a folder where nothing can be created)")
def test_unwritable_outputs_fail_up_front_naming_the_path(tmp_path: Path):
    with pytest.raises(InputError, match=r"/proc/r\.json: cannot write in /proc"):
        CocoSink("/proc/r.json")
    with pytest.raises(InputError, match=r"/proc/r\.avi: cannot write"):
        RenderSink("/proc/r.avi")
    with pytest.raises(InputError, match="is a folder"):
        check_writable(tmp_path)
    assert check_writable(tmp_path / "ok.json") == tmp_path / "ok.json" and list(tmp_path.iterdir()) == []


def test_render_to_a_folder_and_to_a_video(tmp_path: Path):
    folder = tmp_path / "overlays"
    with RenderSink(folder) as sink:
        sink.write(_frame(7), _result(7))
    image = cv2.imread(str(folder / "frame_000007.jpg"))
    assert image.shape == (H, W, 3)
    assert np.abs(image[20, 27].astype(int) - 40).max() > 20  # the mask is tinted
    video = tmp_path / "overlay.avi"
    with RenderSink(video, fps=10) as sink:
        for i in range(5):
            sink.write(_frame(i), _result(i))
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10)
    cap.release()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        RenderSink(tmp_path / "file.txt")
