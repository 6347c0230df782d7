"""setup_cuda.py: architecture choice, skip logic, and loud nvcc failures."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from dsl_testing.scripts import load_script


@pytest.fixture
def setup_cuda():
    """A fresh import of the repo's setup_cuda.py (it is a build helper, not a package module)."""
    return load_script("setup_cuda.py")


@pytest.mark.parametrize("text,expected", [
    ("75;80;86;89;90", [75, 80, 86, 89, 90]),
    ("sm_90, compute_80 80", [80, 90]),
    (" 120 ", [120]),
])
def test_parse_archs(setup_cuda, text: str, expected: list[int]) -> None:
    assert setup_cuda.parse_archs(text) == expected


@pytest.mark.parametrize("text", ["", ";;", "sm_x", "7.5", "volta"])
def test_parse_archs_rejects(setup_cuda, text: str) -> None:
    with pytest.raises(setup_cuda.CudaBuildError, match="DSL_CUDA_ARCHS"):
        setup_cuda.parse_archs(text)


def test_default_archs_are_those_the_toolkit_supports(setup_cuda) -> None:
    assert setup_cuda.choose_archs(None, [75, 80, 86, 90, 120]) == [75, 80, 86, 90, 120]
    assert setup_cuda.choose_archs("", [70, 72, 75, 80]) == [75, 80]
    with pytest.raises(setup_cuda.CudaBuildError, match="set DSL_CUDA_ARCHS"):
        setup_cuda.choose_archs(None, [50, 52])


def test_requested_archs_are_checked(setup_cuda) -> None:
    assert setup_cuda.choose_archs("80;90", [75, 80, 90]) == [80, 90]
    with pytest.raises(setup_cuda.CudaBuildError, match="CUDA 12 toolkit"):
        setup_cuda.choose_archs("70;72;80", [75, 80, 90])
    with pytest.raises(setup_cuda.CudaBuildError, match=r"cannot target \[95\]"):
        setup_cuda.choose_archs("95", [75, 80, 90])


def test_gencode_has_sass_for_each_and_ptx_for_the_newest(setup_cuda) -> None:
    flags = setup_cuda.gencode_flags([90, 75, 80])
    assert "-gencode=arch=compute_75,code=sm_75" in flags
    assert "-gencode=arch=compute_90,code=sm_90" in flags
    assert [f for f in flags if "code=compute_" in f] == ["-gencode=arch=compute_90,code=compute_90"]


def test_one_object_per_source_then_a_static_cudart_link(setup_cuda, tmp_path: Path) -> None:
    src = setup_cuda.ROOT / "csrc" / "cuda" / setup_cuda.SOURCES[0]
    cmd = setup_cuda.object_command("nvcc", [80], src, tmp_path / "x.o")
    assert "-c" in cmd and "--fmad=false" in cmd and str(src) in cmd and "--threads=0" not in cmd
    assert sum(p.endswith(".cu") for p in cmd) == 1 and Path(cmd[-1]).is_file()
    assert "-Werror=all-warnings" not in cmd
    assert "-Werror=all-warnings" in setup_cuda.object_command("nvcc", [80], src, tmp_path / "x.o", strict=True)
    link = setup_cuda.link_command("nvcc", [tmp_path / "a.o", tmp_path / "b.o"], tmp_path / "x.so")
    assert "--cudart=static" in link and "-shared" in link and link[-2:] == [str(tmp_path / "a.o"), str(tmp_path / "b.o")]


def test_skip_reasons(setup_cuda) -> None:
    assert setup_cuda.skip_reason("0", "/usr/bin/nvcc") == "DSL_BUILD_CUDA=0"
    assert "nvcc not found" in setup_cuda.skip_reason("auto", None)
    assert setup_cuda.skip_reason("auto", "/usr/bin/nvcc") is None
    with pytest.raises(setup_cuda.CudaBuildError, match="DSL_BUILD_CUDA=1 but nvcc"):
        setup_cuda.skip_reason("1", None)
    with pytest.raises(setup_cuda.CudaBuildError, match="expected 0, 1 or auto"):
        setup_cuda.skip_reason("yes", "/usr/bin/nvcc")


def test_build_skipped_by_env(setup_cuda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("DSL_BUILD_CUDA", "0")
    assert setup_cuda.build(tmp_path / "out") is None
    assert capsys.readouterr().out.strip() == "setup_cuda: skipping the CUDA decoder library (DSL_BUILD_CUDA=0)"
    assert not (tmp_path / "out").exists()


def test_build_skipped_without_nvcc(setup_cuda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("DSL_BUILD_CUDA", raising=False)
    monkeypatch.setattr(setup_cuda.shutil, "which", lambda name: None)
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "no-cuda"))
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setattr(setup_cuda, "DEFAULT_CUDA_ROOT", str(tmp_path / "no-cuda-either"))
    assert setup_cuda.find_nvcc() is None
    assert setup_cuda.build(tmp_path / "out") is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "nvcc not found" in out[0]


def test_find_nvcc_in_cuda_home(setup_cuda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "cuda" / "bin" / "nvcc"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setattr(setup_cuda.shutil, "which", lambda name: None)
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda"))
    assert setup_cuda.find_nvcc() == str(fake)


NO_NVCC = pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").is_file(),
                             reason="nvcc is not installed")


@NO_NVCC
def test_device_code_compiles_without_warnings(setup_cuda, tmp_path: Path) -> None:
    # Device code with warnings as errors, to PTX for the oldest architecture (host code is held to
    # -Wall -Wextra -Werror by the emulated build in tests/decode/test_cuda.py).
    nvcc = setup_cuda.find_nvcc()
    cmd = setup_cuda.ptx_check_command(nvcc, setup_cuda.supported_archs(nvcc)[0], tmp_path)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list(tmp_path.glob("*.ptx"))) == len(setup_cuda.SOURCES)


def _broken_tree(setup_cuda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A copy of the tree layout with one broken source."""
    (tmp_path / "csrc" / "cuda").mkdir(parents=True)
    (tmp_path / "csrc" / "include").mkdir()
    for name in setup_cuda.SOURCES:
        (tmp_path / "csrc" / "cuda" / name).write_text("int ok_%s;\n" % name.split(".")[0])
    (tmp_path / "csrc" / "cuda" / "poses.cu").write_text("this is not C++;\n")
    monkeypatch.setattr(setup_cuda, "ROOT", tmp_path)
    monkeypatch.setattr(setup_cuda, "SOURCES", ("fuse.cu", "poses.cu"))
    monkeypatch.setattr(setup_cuda, "supported_archs", lambda nvcc: [75, 80])
    monkeypatch.setenv("DSL_CUDA_ARCHS", "75")


@NO_NVCC
def test_compile_errors_fail_loudly_when_required(setup_cuda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _broken_tree(setup_cuda, monkeypatch, tmp_path)
    monkeypatch.setenv("DSL_BUILD_CUDA", "1")
    with pytest.raises(setup_cuda.CudaBuildError, match="nvcc failed") as info:
        setup_cuda.build(tmp_path / "out")
    assert "poses.cu" in str(info.value) and "error" in str(info.value)
    assert not (tmp_path / "out" / setup_cuda.LIBRARY).exists()


@NO_NVCC
def test_compile_errors_leave_the_optional_library_out(setup_cuda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys) -> None:
    """Issue 12: a failing nvcc must not fail the install unless DSL_BUILD_CUDA=1 asks for the library."""
    _broken_tree(setup_cuda, monkeypatch, tmp_path)
    monkeypatch.setenv("DSL_BUILD_CUDA", "auto")
    assert setup_cuda.build(tmp_path / "out") is None
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("setup_cuda: the optional CUDA decoder was not built (") and "error" in out[-1]
    assert "poses.cu" in (tmp_path / "build" / "cuda-build.log").read_text()
    assert not (tmp_path / "out" / setup_cuda.LIBRARY).exists()
