"""dsl-infer as a careless or hostile user runs it (issue 12): aliased outputs, failed runs, limits, signals."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from dsl_testing.commands import installed, run_command
from dsl_testing.onnx_models import disc_frame


def _run(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_command("dsl-infer", *args, timeout=timeout)


def _video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (258, 160))
    for i in range(frames):
        writer.write(disc_frame(258, 160, [(40 + 8 * i, 60, 18)]))
    writer.release()
    return path


def _one_error_line(res: subprocess.CompletedProcess, message: str) -> None:
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-infer: error:") and message in lines[0], res.stderr


def test_f1_hard_link_output_never_empties_the_source(model: Path, tmp_path: Path):
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), disc_frame(200, 120, [(100, 60, 20)]))
    before = src.read_bytes()
    os.link(src, tmp_path / "out.jsonl")
    res = _run(src, "--model", model, "-o", tmp_path / "out.jsonl")
    _one_error_line(res, "out.jsonl: is the SOURCE file under another name")
    assert src.read_bytes() == before


@pytest.mark.parametrize("option", ["--coco", "--summary-json"])
def test_f2_outputs_that_collide_are_refused_before_the_run(model: Path, tmp_path: Path, option: str):
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), disc_frame(200, 120, [(100, 60, 20)]))
    res = _run(src, "--model", model, "-o", tmp_path / "same.json", option, tmp_path / "same.json")
    _one_error_line(res, f"{option} {tmp_path / 'same.json'}: is also the output of --output")
    assert not (tmp_path / "same.json").exists()


def test_f3_spec_size_other_than_the_graph_fails_at_load_leaving_no_output(model: Path, tmp_path: Path):
    import onnx

    from dsl_deploy.export.metadata import META_SPEC
    from dsl_deploy.spec import ModelSpec

    proto = onnx.load(str(model))
    entry = next(e for e in proto.metadata_props if e.key == META_SPEC)
    entry.value = ModelSpec.from_json(entry.value).with_input_size(641).to_json()
    wrong = tmp_path / "wrong.onnx"
    onnx.save(proto, str(wrong))
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), disc_frame(200, 120, [(100, 60, 20)]))
    res = _run(src, "--model", wrong, "-o", tmp_path / "o.jsonl", "--coco", tmp_path / "c.json", "--render",
               tmp_path / "r")
    _one_error_line(res, "wrong.onnx: the graph's input is [batch, 3, 129, 129]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.jpg", "wrong.onnx"]  # F12: nothing created


def test_f5_control_characters_in_names_reach_the_terminal_escaped(model: Path, tmp_path: Path):
    res = _run(tmp_path / "a\x1b[2Jb\rc.mp4", "--model", model)
    assert res.returncode == 1 and "\x1b" not in res.stderr and "\r" not in res.stderr
    assert "a\\x1b[2Jb\\rc.mp4: no such file" in res.stderr
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), disc_frame(200, 120, [(100, 60, 20)]))
    (folder / "b\x1b]0;owned\x07.png").write_bytes(b"not a png")  # named in the corrupt-frame warning
    res = _run(folder, "--model", model, "-o", "none", "--no-progress")
    assert res.returncode == 0 and "corrupt 1" in res.stderr and "b\\x1b]0;owned\\x07.png" in res.stderr
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr


def test_f6_opencv_own_error_lines_do_not_leak(model: Path, tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), disc_frame(200, 120, [(100, 60, 20)]))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG whose header cannot be read
    (folder / "c.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    res = _run(folder, "--model", model, "-o", "none", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert all(line.startswith("dsl-infer: ") for line in res.stderr.splitlines()), res.stderr
    assert "corrupt 2" in res.stderr


def test_f8_frames_above_the_pixel_limit_are_refused_before_decoding(model: Path, tmp_path: Path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((2000, 3000), np.uint8))  # small file, 6 MP
    t0 = time.perf_counter()
    res = _run(big, "--model", model, "-o", tmp_path / "o.jsonl", "--max-pixels", "1000000")
    assert res.returncode == 1 and "big.png: 3000x2000 is 6.0 MP, above the limit of 1 MP" in res.stderr
    assert "--max-pixels" in res.stderr and not (tmp_path / "o.jsonl").exists()
    ok = _run(big, "--model", model, "-o", tmp_path / "o.jsonl", "--max-pixels", "7000000")
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "o.jsonl").read_text())["size"] == [2000, 3000]
    assert time.perf_counter() - t0 < 60
    video = _video(tmp_path / "v.avi", 2)
    res = _run(video, "--model", model, "-o", "none", "--max-pixels", "10000")
    assert res.returncode == 1 and "v.avi: 258x160 is 0.0 MP, above the limit of 0.01 MP" in res.stderr


def test_f10_a_zero_frame_avi_is_refused_like_a_zero_frame_mp4(model: Path, tmp_path: Path):
    video = _video(tmp_path / "empty.avi", 0)
    res = _run(video, "--model", model, "-o", tmp_path / "o.jsonl")
    _one_error_line(res, "empty.avi: ")
    assert not (tmp_path / "o.jsonl").exists()


def test_f12_coco_and_json_lines_follow_the_umask(model: Path, tmp_path: Path):
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), disc_frame(200, 120, [(100, 60, 20)]))
    old = os.umask(0o027)
    try:
        res = _run(src, "--model", model, "-o", tmp_path / "o.jsonl", "--coco", tmp_path / "c.json",
                   "--summary-json", tmp_path / "s.json")
    finally:
        os.umask(old)
    assert res.returncode == 0, res.stderr
    for name in ("o.jsonl", "c.json", "s.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a POSIX fifo")
@pytest.mark.parametrize("twice", [False, True])
def test_f13_a_fifo_source_stops_promptly_on_sigterm_and_exits_143(model: Path, tmp_path: Path, twice: bool):
    data = _video(tmp_path / "v.avi", 12).read_bytes()
    fifo, out = tmp_path / "fifo", tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    proc = subprocess.Popen([installed("dsl-infer"), str(fifo), "--model", str(model), "-o", str(out),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    fd = os.open(fifo, os.O_WRONLY)  # the writer stays, and stops writing: the reader blocks inside OpenCV
    try:
        os.write(fd, data[: len(data) * 2 // 3])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= 2):
            time.sleep(0.05)
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        if twice:
            time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        os.close(fd)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert took < 4, f"{took:.1f} s"  # it took about 35 s before
    assert out.read_text().endswith("\n") and "Traceback" not in err
