"""The output plan and the writers (issue 12, F1/F2/F9/F12): identity by inode, collisions, whole lines and files."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.result import FrameResult
from dsl_deploy.runtime.outputs import UMASK, LineFile, OutputPlan, atomic_file, publish, write_atomic
from dsl_deploy.runtime.sinks import CocoSink, JsonLinesSink, RenderSink
from dsl_deploy.runtime.sources import Frame


def _result() -> FrameResult:
    labels = np.zeros((20, 30), np.int32)
    labels[2:10, 3:9] = 1
    return FrameResult(labels=labels, keypoints=np.zeros((1, 17, 3), np.float32), scores=np.array([0.9], np.float32),
                       boxes=np.array([[3, 2, 9, 10]], np.float32), areas=np.array([48], np.int64),
                       centers=np.array([[6, 6]], np.float32), ball=None, timings={"total": 1.0})


def _frame(i: int = 0) -> Frame:
    return Frame(i, np.zeros((20, 30, 3), np.uint8), "src.jpg", 0.0)


def test_f1_hard_link_output_never_empties_the_source(tmp_path: Path):
    src = tmp_path / "src.jpg"
    src.write_bytes(b"precious image bytes")
    os.link(src, tmp_path / "out.jsonl")
    os.symlink(src, tmp_path / "link.json")
    with pytest.raises(InputError, match="-o .*out.jsonl: is the SOURCE file under another name .*same device and "
                                         "inode"):
        OutputPlan([("SOURCE", src)]).file("-o", tmp_path / "out.jsonl").check()
    with pytest.raises(InputError, match="--coco .*link.json: is the SOURCE file; writing there would destroy it"):
        OutputPlan([("SOURCE", src)]).file("--coco", tmp_path / "link.json").check()
    # Below the plan too: writers replace a file by a new inode, so another name of the old one keeps its bytes.
    with JsonLinesSink(tmp_path / "out.jsonl") as sink:
        sink.write(_frame(), _result())
    (tmp_path / "copy.json").write_bytes(b"old")
    os.link(tmp_path / "copy.json", tmp_path / "twin.json")
    write_atomic(tmp_path / "twin.json", b"[]")
    assert src.read_bytes() == b"precious image bytes" and (tmp_path / "copy.json").read_bytes() == b"old"
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1 and (tmp_path / "twin.json").read_bytes() == b"[]"


def test_f1_a_symlinked_output_is_written_through_to_its_target(tmp_path: Path):
    target = tmp_path / "real.json"
    target.write_text("old")
    (tmp_path / "alias.json").symlink_to(target)
    write_atomic(tmp_path / "alias.json", b"new")
    assert (tmp_path / "alias.json").is_symlink() and target.read_text() == "new"


@pytest.mark.parametrize("second", ["--coco", "--summary-json"])
def test_f2_outputs_that_collide_are_refused(tmp_path: Path, second: str):
    same = tmp_path / "same.json"
    with pytest.raises(InputError, match=f"{second} .*same.json: is also the output of -o"):
        OutputPlan().file("-o", same).file(second, same).check()
    same.write_text("x")
    os.link(same, tmp_path / "other.json")
    with pytest.raises(InputError, match="is also the output of -o"):
        OutputPlan().file("-o", same).file(second, tmp_path / "other.json").check()
    with pytest.raises(InputError, match="is a file that --render .* writes"):
        OutputPlan().file("-o", tmp_path / "r" / "frame_000001.jpg").folder("--render", tmp_path / "r",
                                                                             "frame_*.jpg").check()
    OutputPlan().file("-o", tmp_path / "a.json").file(second, tmp_path / "b.json").check()


def test_f12_plan_checks_create_nothing_and_name_the_problem(tmp_path: Path):
    before = sorted(tmp_path.iterdir())
    OutputPlan().folder("--out", tmp_path / "new" / "deeper").file("-o", tmp_path / "x.jsonl").check()
    assert sorted(tmp_path.iterdir()) == before  # the probe file is gone, no folder was made
    with pytest.raises(InputError, match="the folder .*missing does not exist"):
        OutputPlan().file("-o", tmp_path / "missing" / "x.jsonl").check()
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="--out .*f: exists and is not a folder"):
        OutputPlan().folder("--out", tmp_path / "f").check()
    with pytest.raises(InputError, match="is a folder; give a file name"):
        OutputPlan().file("-o", tmp_path).check()


def test_f9_a_full_disk_never_leaves_half_a_line(tmp_path: Path):
    """RLIMIT_FSIZE stands in for a full disk: the write that crosses it is partial, the next one fails."""
    out = tmp_path / "out.jsonl"
    code = textwrap.dedent(f"""
        import resource
        from dsl_deploy.runtime.outputs import LineFile
        f = LineFile({str(out)!r})
        f.write_line(b"x" * 100 + b"\\n")
        resource.setrlimit(resource.RLIMIT_FSIZE, (150, 150))
        try:
            f.write_line(b"y" * 100 + b"\\n")
        except OSError as exc:
            print("failed", exc.errno)
        f.close()
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "failed" in res.stdout, res.stderr
    assert out.read_bytes() == b"x" * 100 + b"\n"  # the partial second line was cut off again


def test_f9_json_lines_sink_on_a_failing_write_keeps_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "out.jsonl"
    sink = JsonLinesSink(path)
    sink.write(_frame(0), _result())
    real_write = os.write

    def half_then_full(fd: int, data) -> int:
        if fd != sink._file._fd:
            return real_write(fd, data)
        real_write(fd, bytes(data[: len(data) // 2]))
        monkeypatch.setattr(os, "write", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        return len(data) // 2

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(InputError, match="out.jsonl: cannot write the JSON lines \\(No space left on device\\)"):
        sink.write(_frame(1), _result())
    monkeypatch.undo()
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith("\n") and json.loads(lines[0])["frame"] == 0


def test_f12_files_follow_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path: Path):
    expected = 0o666 & ~UMASK
    with CocoSink(tmp_path / "coco.json") as coco:
        coco.write(_frame(), _result())
    with JsonLinesSink(tmp_path / "o.jsonl") as lines:
        lines.write(_frame(), _result())
    for name in ("coco.json", "o.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
    (tmp_path / "kept.json").write_text("old")
    os.chmod(tmp_path / "kept.json", 0o640)
    write_atomic(tmp_path / "kept.json", b"new")
    assert stat.S_IMODE((tmp_path / "kept.json").stat().st_mode) == 0o640


def test_f12_a_failed_run_leaves_no_outputs(tmp_path: Path):
    """Sinks closed by an exception: no empty JSON lines, no COCO file holding [], no render folder or video."""
    with pytest.raises(RuntimeError):
        with JsonLinesSink(tmp_path / "o.jsonl"), CocoSink(tmp_path / "c.json"), \
                RenderSink(tmp_path / "frames"), RenderSink(tmp_path / "v.avi"):
            raise RuntimeError("the model failed at the first frame")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with JsonLinesSink(tmp_path / "o.jsonl"):
        pass  # a run that ends normally with no frame still leaves its (empty) file
    assert (tmp_path / "o.jsonl").read_bytes() == b""


def test_f12_a_rendered_video_is_written_whole_on_close(tmp_path: Path):
    video = tmp_path / "v.avi"
    sink = RenderSink(video)
    sink.write(_frame(0), _result())
    assert not video.exists()  # written beside, renamed into place when complete
    sink.close()
    assert video.stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == ["v.avi"]


def test_line_file_writes_devices_in_place():
    if not Path("/dev/null").exists():
        pytest.skip("needs /dev/null")
    f = LineFile("/dev/null")
    f.write_line(b"{}\n")
    f.close()
    assert Path("/dev/null").exists() and not Path("/dev/null").is_file()


def test_atomic_file_changes_nothing_on_an_error_and_publish_keeps_the_mode(tmp_path: Path):
    target = tmp_path / "model.pth"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write(b"half")
            raise RuntimeError("serialiser failed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]
    with atomic_file(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    made = tmp_path / "written-by-a-library"
    made.write_bytes(b"graph")
    publish(made, target)
    assert target.read_bytes() == b"graph" and stat.S_IMODE(target.stat().st_mode) == 0o640 and not made.exists()
