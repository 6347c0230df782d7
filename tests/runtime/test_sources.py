"""Sources: image, folder (with a corrupt file), video file, live reopen with back-off, bad paths."""
from __future__ import annotations

import itertools
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.runtime.sources import (ArraySource, ImageFiles, LiveSource, Reconnect, VideoFile,
                                        open_source)


def _img(value: int, w: int = 40, h: int = 30) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_single_image(tmp_path: Path):
    cv2.imwrite(str(tmp_path / "a.png"), _img(7))
    src = open_source(str(tmp_path / "a.png"))
    assert isinstance(src, ImageFiles) and not src.live and src.total == 1
    frames = list(src.frames())
    assert len(frames) == 1 and frames[0].index == 0 and frames[0].image.shape == (30, 40, 3)
    assert int(frames[0].image[0, 0, 0]) == 7 and frames[0].source.endswith("a.png")


def test_folder_in_name_order_with_a_corrupt_file(tmp_path: Path):
    for name, v in (("c.png", 3), ("a.png", 1), ("b.jpg", 2)):
        cv2.imwrite(str(tmp_path / name), _img(v * 50))
    (tmp_path / "bad.png").write_bytes(b"this is not a png")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    src = open_source(tmp_path)
    frames = list(src.frames())
    assert [Path(f.source).name for f in frames] == ["a.png", "b.jpg", "bad.png", "c.png"]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    bad = frames[2]
    assert bad.corrupt and "bad.png" in bad.error
    assert [int(f.image[0, 0, 0]) // 50 for f in frames if not f.corrupt] == [1, 2, 3]


def test_video_file(disc_video: Path):
    src = open_source(str(disc_video))
    assert isinstance(src, VideoFile) and not src.live
    assert src.total == 24 and src.fps == pytest.approx(25.0)
    frames = list(src.frames())
    src.close()
    assert [f.index for f in frames] == list(range(24))
    assert all(f.image.shape == (160, 258, 3) for f in frames)
    assert frames[5].timestamp == pytest.approx(5 / 25.0, abs=1e-3)  # media time


def test_missing_and_unreadable_paths_say_what_is_wrong(tmp_path: Path):
    with pytest.raises(InputError, match="no such file or directory"):
        open_source(str(tmp_path / "missing.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        open_source(tmp_path / "empty")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="cannot open this file as a video"):
        open_source(junk)
    with pytest.raises(InputError, match="one numpy array"):
        open_source(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="cannot read frames"):
        open_source(3.5)
    with pytest.raises(InputError, match="empty name"):
        open_source("")


def test_array_source_and_passthrough():
    src = open_source([_img(1), _img(2)])
    assert isinstance(src, ArraySource) and src.total == 2
    assert [int(f.image[0, 0, 0]) for f in src.frames()] == [1, 2]
    assert open_source(src) is src


def test_reconnect_delays_grow_and_are_capped():
    assert list(Reconnect(delay=0.5, factor=2, max_delay=3, attempts=5).delays()) == [0.5, 1.0, 2.0, 3, 3]
    assert list(Reconnect(attempts=0).delays()) == []


class _FakeCapture:
    """A capture that gives `n` frames and then fails, as a camera that is unplugged."""

    def __init__(self, ok: bool, n: int, log: list):
        self.ok, self.n, self.log = ok, n, log

    def isOpened(self) -> bool:
        return self.ok

    def read(self):
        if self.n <= 0:
            return False, None
        self.n -= 1
        return True, _img(len(self.log))

    def get(self, prop):
        return 0.0

    def release(self):
        pass


def test_live_source_reopens_after_an_outage_then_gives_up():
    opened: list = []
    plan = iter([True, True, False, True, False, False])  # open, reopen ok, one failure then ok, then give up

    def opener(target):
        opened.append(target)
        return _FakeCapture(next(plan), 3, opened)

    src = LiveSource("rtsp://fake/stream", reconnect=Reconnect(delay=0.001, attempts=2), opener=opener)
    frames = list(src.frames(threading.Event()))
    assert [f.index for f in frames] == list(range(9))  # 3 frames per successful opening, indices continue
    assert src.reconnects == 2 and src.live
    assert len(opened) == 6


def test_live_source_that_never_opens_is_a_clear_error():
    with pytest.raises(InputError, match="cannot open stream"):
        LiveSource("rtsp://fake/none", opener=lambda t: _FakeCapture(False, 0, []))


def test_stop_event_interrupts_the_back_off():
    stop = threading.Event()
    caps = iter([_FakeCapture(True, 1, []), *[_FakeCapture(False, 0, []) for _ in range(3)]])
    src = LiveSource(0, reconnect=Reconnect(delay=60.0), opener=lambda t: next(caps))
    it = src.frames(stop)
    assert next(it).index == 0
    threading.Timer(0.2, stop.set).start()
    assert list(it) == []  # returned once stop was set, not after the 60 s back-off


def test_a_video_file_as_live_is_reopened_when_it_ends(disc_video: Path):
    src = open_source(str(disc_video), live=True, reconnect=Reconnect(delay=0.001, attempts=1))
    assert isinstance(src, LiveSource)
    frames = list(itertools.islice(src.frames(), 60))
    src.close()
    assert [f.index for f in frames] == list(range(60))  # indices continue across reopenings
    assert src.reconnects == 2  # the 24-frame file ended twice and was reopened each time


class _ScriptedCapture:
    """Replays a script of reads: an image, or None for a failed read."""

    def __init__(self, script):
        self.script = list(script)

    def read(self):
        if not self.script:
            return False, None
        item = self.script.pop(0)
        return (item is not None), item

    def get(self, prop):
        return 0.0

    def release(self):
        pass


def test_video_skips_a_bad_frame_in_the_middle_but_not_the_end(disc_video: Path):
    src = VideoFile(disc_video)  # total = 24 frames
    img = _img(9)
    src._cap.release()
    src._first = None  # the frame read at open belongs to the real file, not to the script
    src._cap = _ScriptedCapture([img, img, None] + [img] * 21 + [None])
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(24))
    assert [f.index for f in frames if f.corrupt] == [2]  # a failed read followed by good frames is corrupt
    assert "frame 2 failed to decode" in frames[2].error
    src._cap = _ScriptedCapture([img, None, None, None, None])
    src.total = None  # unknown length: failures in a row are the end, not corrupt frames
    assert [f.index for f in src.frames()] == [0]
