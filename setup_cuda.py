"""Build the optional CUDA decoder library (csrc/cuda -> libdsl_decode_cuda.so); called by setup.py's build_ext.

Environment:
  DSL_BUILD_CUDA   "0": skip; "auto" (default): build when nvcc is found; when nvcc is missing or fails,
                   say so in one line (nvcc's output goes to build/cuda-build.log) and go on without
                   the optional library; "1": the library is required: a missing nvcc or a compile
                   error fails the build, with nvcc's output.
  DSL_CUDA_ARCHS   compute capabilities, e.g. "75;80;86;89;90" (SASS for each, PTX for the highest so
                   newer GPUs JIT-compile it). Default: those of DEFAULT_ARCHS that this nvcc supports.
                   CUDA 13 cannot target sm_70/72 (V100, Jetson Xavier): build those with a CUDA 12
                   toolkit, e.g. CUDA_HOME=/usr/local/cuda-12 DSL_CUDA_ARCHS="70;72".
  DSL_CUDA_STRICT  "1": warnings are errors (host and device), as the tests compile it.
  CUDA_HOME        toolkit root, searched after PATH (then /usr/local/cuda).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCES = ("fuse.cu", "centres.cu", "assign.cu", "poses.cu", "decoder.cu", "download.cu")
LIBRARY = "libdsl_decode_cuda.so"
DEFAULT_CUDA_ROOT = "/usr/local/cuda"
# Turing, Ampere (A100, desktop), Orin, Ada, Hopper, Blackwell (datacentre, Thor, desktop).
DEFAULT_ARCHS = (75, 80, 86, 87, 89, 90, 100, 110, 120)
# No FMA contraction: float32 expressions must round as the NumPy reference's do (supports, Eq. 4 ties).
# One object per source, each nvcc in its own temporary folder: one nvcc building every architecture of every
# source with --threads=0 once died in its device link on a temporary file name (nvlink: could not read
# tmpxft_..._dlink.reg.c).
NVCC_FLAGS = ("-std=c++17", "-O3", "--fmad=false", "-Xcompiler=-fPIC")
# Warnings as errors: for the tests and DSL_CUDA_STRICT=1, not for users' builds (a newer host compiler's
# new warning must not break an install).
STRICT_FLAGS = ("-Xcompiler=-Wall,-Wextra,-Werror", "-Werror=all-warnings")


class CudaBuildError(RuntimeError):
    """nvcc failed, or the requested architectures are not valid for this toolkit."""


def find_nvcc() -> str | None:
    """Path of nvcc from PATH, $CUDA_HOME/bin ($CUDA_PATH/bin) or /usr/local/cuda/bin, or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), DEFAULT_CUDA_ROOT):
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    return None


def supported_archs(nvcc: str) -> list[int]:
    """Compute capabilities this nvcc can target (from `nvcc --list-gpu-arch`)."""
    out = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=False)
    return sorted({int(m) for m in re.findall(r"compute_(\d+)", out.stdout)})


def parse_archs(text: str) -> list[int]:
    """'75;80, sm_86' -> [75, 80, 86]; CudaBuildError naming the bad entry."""
    archs = []
    for item in re.split(r"[;,\s]+", text.strip()):
        if not item:
            continue
        m = re.fullmatch(r"(?:sm_|compute_)?(\d{2,3})", item)
        if m is None:
            raise CudaBuildError(f"DSL_CUDA_ARCHS: {item!r} is not a compute capability (expected e.g. '75;80;86')")
        archs.append(int(m.group(1)))
    if not archs:
        raise CudaBuildError("DSL_CUDA_ARCHS is empty (expected e.g. '75;80;86')")
    return sorted(set(archs))


def choose_archs(env_value: str | None, supported: list[int]) -> list[int]:
    """The architectures to build: DSL_CUDA_ARCHS if set (checked against the toolkit), else the defaults it supports."""
    if env_value:
        archs = parse_archs(env_value)
        if supported:
            missing = [a for a in archs if a not in supported]
            if missing:
                hint = (" (CUDA 13 dropped sm_70/72: build V100/Xavier with a CUDA 12 toolkit)"
                        if any(a < 75 for a in missing) else "")
                raise CudaBuildError(f"DSL_CUDA_ARCHS: this nvcc cannot target {missing}; it supports "
                                     f"{supported}{hint}")
        return archs
    archs = [a for a in DEFAULT_ARCHS if not supported or a in supported]
    if not archs:
        raise CudaBuildError(f"this nvcc supports none of the default architectures {list(DEFAULT_ARCHS)} "
                             f"(it lists {supported}); set DSL_CUDA_ARCHS")
    return archs


def gencode_flags(archs: list[int]) -> list[str]:
    """SASS for every architecture, plus PTX of the highest for GPUs newer than all of them."""
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    top = max(archs)
    flags.append(f"-gencode=arch=compute_{top},code=compute_{top}")
    return flags


def skip_reason(mode: str, nvcc: str | None) -> str | None:
    """Why the CUDA library is not built (None: build it); CudaBuildError when DSL_BUILD_CUDA=1 cannot be met."""
    if mode not in ("0", "1", "auto"):
        raise CudaBuildError(f"DSL_BUILD_CUDA={mode!r}: expected 0, 1 or auto")
    if mode == "0":
        return "DSL_BUILD_CUDA=0"
    if nvcc is None:
        if mode == "1":
            raise CudaBuildError("DSL_BUILD_CUDA=1 but nvcc was not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)")
        return "nvcc not found on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin"
    return None


def object_command(nvcc: str, archs: list[int], source: Path, obj: Path, *, strict: bool = False) -> list[str]:
    """The nvcc command line that compiles one source to an object with device code for `archs`."""
    return [nvcc, *NVCC_FLAGS, *(STRICT_FLAGS if strict else ()), *gencode_flags(archs),
            "-I", str(ROOT / "csrc" / "include"), "-c", "-o", str(obj), str(source)]


def link_command(nvcc: str, objects: list[Path], out: Path) -> list[str]:
    """The nvcc command line that links the objects into the shared library `out` (cudart linked statically)."""
    return [nvcc, "-shared", "--cudart=static", "-Xcompiler=-fPIC", "-o", str(out), *(str(o) for o in objects)]


def ptx_check_command(nvcc: str, arch: int, out_dir: Path) -> list[str]:
    """nvcc command compiling every source to PTX with device warnings as errors (a quick strictness check)."""
    src = ROOT / "csrc" / "cuda"
    return [nvcc, "-std=c++17", "--fmad=false", "-Werror=all-warnings", f"-gencode=arch=compute_{arch},code=compute_{arch}",
            "-I", str(ROOT / "csrc" / "include"), "--ptx", "-odir", str(out_dir), *(str(src / name) for name in SOURCES)]


def _run(cmd: list[str], tmp: Path) -> None:
    """Run one nvcc command with its own TMPDIR; CudaBuildError with nvcc's output when it fails."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise CudaBuildError("nvcc failed building the CUDA decoder:\n" + " ".join(cmd) + "\n" + proc.stdout
                             + proc.stderr)


def _compile_and_link(nvcc: str, archs: list[int], partial: Path, tmp: Path, strict: bool) -> None:
    """Every source to its own object (in parallel, each nvcc with its own TMPDIR), then one link."""
    from concurrent.futures import ThreadPoolExecutor

    src = ROOT / "csrc" / "cuda"
    jobs = []
    for name in SOURCES:
        work = tmp / name.replace(".", "_")
        work.mkdir()
        jobs.append((object_command(nvcc, archs, src / name, work / (name + ".o"), strict=strict), work))
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        for future in [pool.submit(_run, cmd, work) for cmd, work in jobs]:
            future.result()
    link_tmp = tmp / "link"
    link_tmp.mkdir()
    _run(link_command(nvcc, [work / (name + ".o") for (_cmd, work), name in zip(jobs, SOURCES)], partial), link_tmp)


def build(out_dir: Path) -> Path | None:
    """Build libdsl_decode_cuda.so into out_dir; return its path, or None (one line printed) when skipped."""
    mode = os.environ.get("DSL_BUILD_CUDA", "auto").strip().lower() or "auto"
    nvcc = find_nvcc()
    reason = skip_reason(mode, nvcc)
    if reason is not None:
        print(f"setup_cuda: skipping the CUDA decoder library ({reason})")
        return None
    assert nvcc is not None
    out_dir = Path(out_dir)
    target = out_dir / LIBRARY
    try:
        archs = choose_archs(os.environ.get("DSL_CUDA_ARCHS"), supported_archs(nvcc))
        out_dir.mkdir(parents=True, exist_ok=True)
        # Build beside the target and rename, so a failed build never leaves a half-written library.
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            partial = Path(tmp) / LIBRARY
            print(f"setup_cuda: building {target} for sm_{', sm_'.join(map(str, archs))} (+PTX {max(archs)})")
            _compile_and_link(nvcc, archs, partial, Path(tmp), os.environ.get("DSL_CUDA_STRICT") == "1")
            os.replace(partial, target)
    except CudaBuildError as exc:
        if mode == "1":
            raise CudaBuildError(f"{exc}\n(DSL_BUILD_CUDA=1 requires the CUDA decoder; DSL_BUILD_CUDA=0 skips it)") from None
        log = ROOT / "build" / "cuda-build.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(str(exc) + "\n", encoding="utf-8")
            where = f"; nvcc's output is in {log}"
        except OSError:
            where = ""
        first = next((line for line in str(exc).splitlines() if "error" in line.lower()), str(exc).splitlines()[0])
        print(f"setup_cuda: the optional CUDA decoder was not built ({first.strip()[:300]}){where}; the CPU "
              f"decoders are unaffected (DSL_BUILD_CUDA=1 makes this an error)")
        return None
    return target


if __name__ == "__main__":
    built = build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dsl_deploy" / "decode")
    print(built or "skipped")
