"""The native letterbox (csrc/src/preprocess.cpp) gives the OpenCV/NumPy path's input bit for bit, and refuses bad
arguments at its boundary."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dsl_deploy.errors import InputError
from dsl_deploy.preprocess import Preprocessor, letterbox_params
from dsl_deploy.spec import default_spec

pytestmark = pytest.mark.skipif(importlib.util.find_spec("dsl_deploy._preprocess") is None,
                                reason="dsl_deploy._preprocess is not built")
ROOT = Path(__file__).resolve().parents[2]

# 16:9 broadcast and its halves, 4K (two halvings), portrait, 4:3, 21:9, near-square, odd and tiny sides, a frame
# twice the input exactly, one already the input's size, and frames smaller than the input (enlarged).
SIZES = [(1920, 1080), (3840, 2160), (1280, 720), (1080, 1920), (1024, 768), (2560, 1080), (643, 641), (1919, 1079),
         (1282, 722), (641, 361), (641, 641), (333, 187), (129, 97), (7, 3), (1, 1), (2, 1500)]


def _both(spec, frames, resize: str, output: str) -> tuple[np.ndarray, np.ndarray]:
    ours, _ = Preprocessor(spec, resize=resize, output=output, native=True)(frames)
    theirs, _ = Preprocessor(spec, resize=resize, output=output, native=False)(frames)
    return ours, theirs


@pytest.mark.parametrize("resize", ["box-linear", "linear"])
@pytest.mark.parametrize("size", [641, 129])
def test_native_equals_opencv_on_every_frame_shape(resize: str, size: int, rng) -> None:
    spec = default_spec("resnet18", size)
    for w, h in SIZES:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
        for output in ("float", "uint8"):
            ours, theirs = _both(spec, frame, resize, output)
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{w}x{h} -> {size} {resize} {output}")


def test_grey_bgra_strided_and_batched_frames(rng) -> None:
    spec = default_spec("resnet18", 97)
    big = rng.integers(0, 256, (400, 700, 3), dtype=np.uint8)
    frames = [rng.integers(0, 256, (120, 200), dtype=np.uint8),  # grey: check_frame makes it BGR first
              rng.integers(0, 256, (90, 160, 4), dtype=np.uint8),  # BGRA
              big[13:313, 21:621],  # a crop: rows strided in a bigger frame
              big[::2, ::3],  # pixels not packed: copied first
              big[::-1]]  # rows upside down: copied first
    for output in ("float", "uint8"):
        ours, theirs = _both(spec, frames, "box-linear", output)
        np.testing.assert_array_equal(ours, theirs)
    # The buffer is reused: a frame of another shape in the same slot redraws the padding.
    prep, ref = Preprocessor(spec, resize="box-linear", native=True), Preprocessor(spec, resize="box-linear",
                                                                                   native=False)
    for frame in (frames[0], big, frames[1], big[:50]):
        np.testing.assert_array_equal(prep(frame)[0], ref(frame)[0])


def test_letterbox_rule_is_the_python_one() -> None:
    from dsl_deploy import _preprocess

    rng = np.random.default_rng(3)
    for _ in range(2000):
        fw, fh, w, h = (int(v) for v in rng.integers(1, 5000, 4))
        lb = letterbox_params(fw, fh, w, h)
        assert _preprocess.letterbox(fw, fh, w, h) == (lb.pad_x, lb.pad_y, lb.resized_width, lb.resized_height)


def test_plain_kernels_give_the_same_input(tmp_path: Path) -> None:
    code = ("import numpy as np, sys; from dsl_deploy.preprocess import Preprocessor; "
            "from dsl_deploy.spec import default_spec; rng = np.random.default_rng(5); out = []\n"
            "for w, h in [(1920, 1080), (3840, 2160), (1919, 1079), (333, 187), (50, 700), (9, 9)]:\n"
            "    f = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)\n"
            "    for o in ('float', 'uint8'):\n"
            "        prep = Preprocessor(default_spec('resnet18', 129), resize='box-linear', output=o, native=True)\n"
            "        out.append(prep(f)[0].copy())\n"
            "np.savez(sys.argv[1], *out)\n"
            "from dsl_deploy import _preprocess; from dsl_deploy.preprocess import native_preprocess_available\n"
            "print(_preprocess.vectorized(), native_preprocess_available())\n")
    for name, plain in (("vector", "0"), ("plain", "1")):
        env = dict(os.environ, DSL_PREPROCESS_PLAIN=plain)
        run = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{name}.npz")], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        if plain == "1":  # the portable loops are no faster than OpenCV: Preprocessor does not pick them itself
            assert run.stdout.split() == ["False", "False"]
    vector, plain_ = np.load(tmp_path / "vector.npz"), np.load(tmp_path / "plain.npz")
    for key in vector.files:
        np.testing.assert_array_equal(vector[key], plain_[key])


def test_hostile_arguments_are_input_errors(rng) -> None:
    from dsl_deploy import _preprocess

    p = _preprocess.Preprocess()
    frame = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    out = np.zeros((3, 33, 33), np.float32)
    out8 = np.zeros((33, 33, 3), np.uint8)
    content = (0, 5, 33, 22)
    bad_calls = [
        lambda: p.float_input(frame.astype(np.float32), out, content),
        lambda: p.float_input(frame[:, :, :2], out, content),
        lambda: p.float_input(frame[:, :, 0], out, content),
        lambda: p.float_input([[1, 2, 3]], out, content),
        lambda: p.float_input(frame[:, ::2], out, content),
        lambda: p.float_input(frame[::-1], out, content),
        lambda: p.float_input(np.zeros((0, 5, 3), np.uint8), out, content),
        lambda: p.float_input(frame, out.astype(np.float64), content),
        lambda: p.float_input(frame, out[:, :, ::2], content),
        lambda: p.float_input(frame, out8, content),
        lambda: p.float_input(frame, np.zeros((4, 33, 33), np.float32), content),
        lambda: p.float_input(frame, out, (0, 0, 34, 33)),
        lambda: p.float_input(frame, out, (-1, 0, 10, 10)),
        lambda: p.float_input(frame, out, (0, 0, 0, 10)),
        lambda: p.float_input(frame, out, (0, 0, 10)),
        lambda: p.float_input(frame, out, "abcd"),
        lambda: p.float_input(frame, out, content, resize="area"),
        lambda: p.float_input(frame, out, content, pad_value=256),
        lambda: p.float_input(frame, out, content, pad_value=True),
        lambda: p.float_input(frame, out, content, source_channel=(0, 1, 3)),
        lambda: p.float_input(frame, out, content, scale=(1.0, 2.0)),
        lambda: p.uint8_input(frame, out, content),
        lambda: p.uint8_input(frame, out8[:, ::2], content),
        lambda: p.uint8_input(frame, np.zeros((33, 33, 3), np.uint8)[::-1], content),
        lambda: _preprocess.letterbox(0, 10, 10, 10),
        lambda: _preprocess.letterbox(10, 10, 10, 40000),
        lambda: _preprocess.letterbox(10.5, 10, 10, 10),
    ]
    for i, call in enumerate(bad_calls):
        with pytest.raises(InputError):
            call()
            pytest.fail(f"call {i} was accepted")
    readonly = out.copy()
    readonly.setflags(write=False)
    with pytest.raises(InputError, match="writeable"):
        p.float_input(frame, readonly, content)
    wrong_float = r"out: expected a float32 array of shape \(3, H, W\), got uint8 \(33, 33, 3\)"
    with pytest.raises(InputError, match=wrong_float):
        p.float_input(frame, out8, content)
    wrong_uint8 = r"out: expected a uint8 array of shape \(H, W, 3\), got float32 \(3, 33, 33\)"
    with pytest.raises(InputError, match=wrong_uint8):
        p.uint8_input(frame, out, content)


def test_random_sizes_and_rectangles_never_crash(rng) -> None:
    """Fuzz: random frames, inputs and rectangles (valid or not) give InputError or the reference's numbers."""
    from dsl_deploy import _preprocess

    p = _preprocess.Preprocess()
    for _ in range(300):
        fh, fw = (int(v) for v in rng.integers(1, 300, 2))
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        frame = rng.integers(0, 256, (fh, fw, 3), dtype=np.uint8)
        x, y = (int(v) for v in rng.integers(-3, 60, 2))
        cw, ch = (int(v) for v in rng.integers(-2, 130, 2))
        out8 = np.zeros((h, w, 3), np.uint8)
        valid = x >= 0 and y >= 0 and cw >= 1 and ch >= 1 and x + cw <= w and y + ch <= h
        resize = "linear" if rng.random() < 0.3 else "box-linear"
        if not valid:
            with pytest.raises(InputError):
                p.uint8_input(frame, out8, (x, y, cw, ch), resize=resize)
            continue
        p.uint8_input(frame, out8, (x, y, cw, ch), resize=resize, pad_value=7)
        want = np.full((h, w, 3), 7, np.uint8)
        want[y:y + ch, x:x + cw] = _reference(frame, cw, ch, resize)
        np.testing.assert_array_equal(out8, want)


def _reference(frame: np.ndarray, cw: int, ch: int, resize: str) -> np.ndarray:
    """preprocess.py's resize of a frame to any content size (halvings, then INTER_LINEAR)."""
    if (frame.shape[1], frame.shape[0]) == (cw, ch):
        return frame
    if resize == "box-linear":
        while (frame.shape[1] >= 2 * cw and frame.shape[0] >= 2 * ch and frame.shape[1] % 2 == 0
               and frame.shape[0] % 2 == 0):
            frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if (frame.shape[1], frame.shape[0]) == (cw, ch):
            return frame
    return cv2.resize(frame, (cw, ch), interpolation=cv2.INTER_LINEAR)


def test_the_native_module_can_be_declined_or_required(monkeypatch) -> None:
    import copy
    import pickle

    import dsl_deploy.preprocess as pre

    spec = default_spec("resnet18", 65)
    frame = np.random.default_rng(0).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    prep = Preprocessor(spec, resize="box-linear")
    for twin in (pickle.loads(pickle.dumps(prep)), copy.deepcopy(prep)):  # e.g. a data-loader worker's copy
        np.testing.assert_array_equal(twin(frame)[0], prep(frame)[0])
    assert Preprocessor(spec, resize="area")._native is None  # INTER_AREA stays OpenCV's
    assert Preprocessor(spec, resize="box-linear", native=False)._native is None
    monkeypatch.setattr(pre, "_native", None)
    with pytest.raises(InputError, match="not built"):
        Preprocessor(spec, resize="box-linear", native=True)
    assert Preprocessor(spec, resize="box-linear")(frame)[0].shape == (1, 3, 65, 65)  # the fallback


@pytest.mark.slow
def test_preprocess_core_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        pytest.skip(f"no C++ compiler ({cxx})")
    flags = ["-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
             "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    exe = tmp_path / "driver"
    driver = Path(__file__).with_name("preprocess_sanitize_driver.cpp")
    cmd = [cxx, *flags, f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'tests' / 'support'}", str(driver),
           str(ROOT / "csrc" / "src" / "preprocess.cpp"),
           "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if build.returncode != 0 and "sanitize" in build.stderr:
        pytest.skip(f"{cxx} cannot build with the sanitizers: {build.stderr.strip()[:200]}")
    assert build.returncode == 0, build.stderr[-3000:]
    sums = []
    for plain in ("0", "1"):  # the AVX2 kernels (where the CPU has them) and the portable loops
        env = dict(os.environ, DSL_PREPROCESS_PLAIN=plain, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                   UBSAN_OPTIONS="print_stacktrace=1")
        run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        assert "0 failures" in run.stdout
        assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr
        sums.append(run.stdout.split("checksum ")[1].split()[0])
    assert sums[0] == sums[1]
