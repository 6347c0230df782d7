"""dsl-infer, run as the installed console command: sources, outputs, corrupt frames, errors, signals."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from dsl_testing.commands import installed, run_command
from dsl_testing.onnx_models import disc_frame

FRAMES = 12


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_command("dsl-infer", *args, timeout=timeout)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("v") / "discs.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (258, 160))
    for i in range(FRAMES):
        writer.write(disc_frame(258, 160, [(40 + 8 * i, 60, 18), (200, 110, 15)]))
    writer.release()
    return path


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_help_explains_every_option():
    out = _run("--help")
    assert out.returncode == 0
    for opt in ("--model", "--output", "--coco", "--render", "--masks", "--queue", "--max-frames", "--decoder",
                "--threads", "--providers", "--live", "--no-live", "--reconnect-delay", "--reconnect-max-delay",
                "--reconnect-attempts", "--fps", "--no-progress", "--log-every", "--summary-json", "SOURCE", "SIGTERM", "dropped", "corrupt"):
        assert opt in out.stdout, opt
    assert out.stdout.count("default") >= 10


def test_video_to_stdout_coco_and_rendered_video(model: Path, video: Path, tmp_path: Path):
    coco, overlay = tmp_path / "results.json", tmp_path / "overlay.avi"
    summary = tmp_path / "summary.json"
    out = _run(str(video), "--model", str(model), "-o", "-", "--coco", str(coco), "--render", str(overlay),
               "--summary-json", str(summary), "--log-every", "0.0001")
    assert out.returncode == 0, out.stderr
    lines = _lines(out.stdout)
    assert [d["frame"] for d in lines] == list(range(FRAMES))
    assert all(d["source"] == str(video) and d["size"] == [160, 258] for d in lines)
    assert len(lines[0]["players"]) == 2 and "mask" in lines[0]["players"][0]
    assert lines[1]["timestamp"] == pytest.approx(0.04, abs=1e-3)
    assert f"frames {FRAMES}, dropped 0, corrupt 0" in out.stderr and "throughput" in out.stderr
    assert "inference" in out.stderr and "latency" in out.stderr
    assert out.stderr.count("throughput") > 2  # periodic status lines, then the summary
    stats = json.loads(summary.read_text())
    assert (stats["frames"], stats["dropped"], stats["corrupt"]) == (FRAMES, 0, 0) and stats["fps"] > 0
    assert {"preprocess", "inference", "decode", "total"} <= set(stats["stage_ms"]) and "p95" in stats["latency_ms"]
    records = json.loads(coco.read_text())
    assert len(records) == 2 * FRAMES and {r["image_id"] for r in records} == set(range(FRAMES))
    cap = cv2.VideoCapture(str(overlay))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    cap.release()


def test_folder_with_a_corrupt_image_is_skipped_and_counted(model: Path, tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), disc_frame(200, 120, [(100, 60, 20)]))
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    cv2.imwrite(str(folder / "c.jpg"), disc_frame(120, 200, [(60, 100, 20)]))
    out_file, renders = tmp_path / "out.jsonl", tmp_path / "renders"
    out = _run(str(folder), "--model", str(model), "-o", str(out_file), "--masks", "none", "--render",
               str(renders), "--decoder", "numpy", "--threads", "1")
    assert out.returncode == 0, out.stderr
    lines = _lines(out_file.read_text())
    assert [(d["frame"], Path(d["source"]).name) for d in lines] == [(0, "a.png"), (2, "c.jpg")]
    assert lines[1]["size"] == [200, 120] and "mask" not in lines[1]["players"][0]
    assert "warning" in out.stderr and "b.png" in out.stderr and "corrupt 1" in out.stderr
    assert sorted(p.name for p in renders.iterdir()) == ["frame_000000.jpg", "frame_000002.jpg"]


def test_max_frames_and_no_json(model: Path, video: Path, tmp_path: Path):
    out = _run(str(video), "--model", str(model), "-o", "none", "--max-frames", "5", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "frames 5," in out.stderr


@pytest.mark.parametrize("args,message", [
    (["missing.mp4"], "no such file or directory"),
    (["VIDEO", "--queue", "0"], "--queue"),
    (["VIDEO", "--model-override"], "unrecognized"),
    (["VIDEO", "--model", "nope.onnx"], "nope.onnx"),
    (["VIDEO", "--model", "model.tflite"], "unknown artifact type"),
    (["7"], "cannot open camera 7"),
    (["VIDEO", "--summary-json", "/nonexistent-dir/s.json"], "/nonexistent-dir/s.json: the folder"),
    (["VIDEO", "-o", "VIDEO"], "is the SOURCE file; writing there would destroy it"),
    (["VIDEO", "--coco", "MODEL"], "is the --model file"),
    (["rtsp://127.0.0.1:9/none"], "cannot open stream rtsp://127.0.0.1:9/none"),
])
def test_bad_input_is_one_clear_line(model: Path, video: Path, args, message):
    args = [{"VIDEO": str(video), "MODEL": str(model)}.get(a, a) for a in args]
    if "--model" not in args:
        args += ["--model", str(model)]
    out = _run(*args)
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr
    assert "WARN" not in out.stderr  # OpenCV's own chatter is silenced


@pytest.mark.parametrize("option,name,message", [
    ("--render", ".", "is the SOURCE folder"),
    ("--render", "./", "is the SOURCE folder"),
    ("-o", "a.png", "is an image in the SOURCE folder"),
    ("--coco", "new.jpg", "is an image in the SOURCE folder"),
])
def test_outputs_into_a_source_folder_are_refused(model: Path, tmp_path: Path, option, name, message):
    frames = tmp_path / "frames"
    frames.mkdir()
    image = np.zeros((40, 60, 3), np.uint8)
    cv2.imwrite(str(frames / "a.png"), image)
    before = (frames / "a.png").read_bytes()
    out = _run(str(frames), "--model", str(model), option, str(frames / name), "--no-progress")
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in frames.iterdir()) == ["a.png"] and (frames / "a.png").read_bytes() == before


def test_unreadable_single_image_fails_clearly(model: Path, tmp_path: Path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not a jpeg")
    out = _run(str(bad), "--model", str(model), "-o", str(tmp_path / "o.jsonl"))
    assert out.returncode == 1 and "no frame could be read" in out.stderr and "x.jpg" in out.stderr


def test_truncated_video_ends_without_ffmpeg_chatter(model: Path, video: Path, tmp_path: Path):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    out = _run(str(cut), "--model", str(model), "-o", "none", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert all(line.startswith("dsl-infer: ") for line in out.stderr.splitlines()), out.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_flushes_and_closes_every_output(model: Path, video: Path, tmp_path: Path, sig):
    out_file, coco, overlay = tmp_path / "out.jsonl", tmp_path / "coco.json", tmp_path / "overlay.avi"
    # As a live source the video is reopened whenever it ends: a stream that never stops on its own.
    proc = subprocess.Popen([installed("dsl-infer"), str(video), "--model", str(model), "--live", "--reconnect-delay", "0.01",
                             "-o", str(out_file), "--coco", str(coco), "--render", str(overlay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out_file.exists() and out_file.read_text().count("\n") >= 20:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    text = out_file.read_text()
    assert text.endswith("\n")  # no half-written last line
    lines = _lines(text)
    frames = [d["frame"] for d in lines]
    assert len(frames) >= 20 and frames == sorted(set(frames))
    records = json.loads(coco.read_text())
    assert {r["image_id"] for r in records} == set(frames)
    cap = cv2.VideoCapture(str(overlay))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(lines)
    cap.release()
    assert f"frames {len(lines)}," in err


@pytest.fixture
def http_video(video: Path):
    """The test video served over HTTP on localhost: a URL source that ends and can be reopened."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(video.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{video.name}"
    server.shutdown()
    thread.join(5)


def test_url_source_is_live_reopened_and_drops_oldest(model: Path, http_video: str, tmp_path: Path):
    out_file = tmp_path / "live.jsonl"
    n = 5 * FRAMES
    out = _run(http_video, "--model", str(model), "-o", str(out_file), "--max-frames", str(n),
               "--reconnect-delay", "0.01", "--queue", "2", "--summary-json", str(tmp_path / "s.json"))
    assert out.returncode == 0, out.stderr
    frames = [d["frame"] for d in _lines(out_file.read_text())]
    assert frames == sorted(set(frames)) and frames[-1] == n - 1  # in order, the newest frame kept
    assert "the stream stopped; reopening" in out.stderr and "reopened" in out.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames"] == len(frames) and stats["read"] == n
    assert stats["frames"] + stats["dropped"] == n  # every frame read is emitted or counted as dropped
    assert stats["reconnects"] == 4  # the 12-frame video ended 4 times within 60 frames
