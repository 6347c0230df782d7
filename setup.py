"""Build script: the package, the target profiles, and the native decoder extension (C++ core + Cython)."""
from __future__ import annotations

import os
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent


def openmp_flags() -> list[str]:
    """['-fopenmp'] when the C++ compiler accepts it (and DSL_NO_OPENMP is unset), else []."""
    if os.environ.get("DSL_NO_OPENMP"):
        return []
    import subprocess
    import tempfile

    cxx = os.environ.get("CXX", "c++")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "omp.cpp"
        src.write_text("#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            ok = subprocess.run([cxx, "-fopenmp", str(src), "-o", str(Path(tmp) / "omp")],
                                capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    return ["-fopenmp"] if ok else []


def native_extensions() -> list:
    """The Cython extension over csrc/ (see csrc/README.md); skipped only if its sources are absent."""
    pyx = ROOT / "dsl_deploy" / "decode" / "_native.pyx"
    if not pyx.exists():
        return []
    import numpy
    from Cython.Build import cythonize
    from setuptools import Extension

    # csrc/src/masks.cpp (frame-resolution masks, dsl_masks.h) and preprocess.cpp (the network input,
    # dsl_preprocess.h) go into their own modules below.
    own_modules = ("masks.cpp", "preprocess.cpp")
    sources = [str(pyx.relative_to(ROOT))] + sorted(str(p.relative_to(ROOT))
                                                    for p in (ROOT / "csrc" / "src").glob("*.cpp")
                                                    if p.name not in own_modules)
    omp = openmp_flags()
    ext = Extension(
        "dsl_deploy.decode._native",
        sources=sources,
        include_dirs=["csrc/include", numpy.get_include()],
        language="c++",
        # -ffp-contract=off: no fused multiply-add, so the core rounds exactly like the NumPy reference.
        extra_compile_args=["-std=c++17", "-O3", "-ffp-contract=off"] + omp,
        extra_link_args=omp,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    masks = Extension(
        "dsl_deploy.runtime._masks",
        sources=["dsl_deploy/runtime/_masks.pyx", "csrc/src/masks.cpp"],
        include_dirs=["csrc/include", numpy.get_include()],
        language="c++",
        extra_compile_args=["-std=c++17", "-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    preprocess = Extension(
        "dsl_deploy._preprocess",
        sources=["dsl_deploy/_preprocess.pyx", "csrc/src/preprocess.cpp"],
        include_dirs=["csrc/include", numpy.get_include()],
        language="c++",
        # -ffp-contract=off: v * scale + shift rounds twice, as NumPy's multiply then add.
        extra_compile_args=["-std=c++17", "-O3", "-ffp-contract=off"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    return cythonize([ext, masks, preprocess], language_level=3, quiet=True)


class BuildExtWithCuda(build_ext):
    """Build the Cython extension, then the optional CUDA decoder library (see setup_cuda.py)."""

    def run(self) -> None:
        super().run()
        helper = ROOT / "setup_cuda.py"
        if not helper.exists():
            return
        import importlib.util

        mod_spec = importlib.util.spec_from_file_location("setup_cuda", helper)
        setup_cuda = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(setup_cuda)
        base = ROOT if self.inplace else Path(self.build_lib)
        setup_cuda.build(base / "dsl_deploy" / "decode")


setup(
    cmdclass={"build_ext": BuildExtWithCuda},
    packages=find_packages(include=["dsl_deploy", "dsl_deploy.*"]) + ["dsl_deploy.profiles"],
    # The deployment target profiles live in export/ at the top of the repo and install as dsl_deploy.profiles.
    package_dir={"dsl_deploy.profiles": "export"},
    package_data={"dsl_deploy.profiles": ["*.toml"], "dsl_deploy": ["py.typed"]},
    ext_modules=native_extensions(),
    zip_safe=False,
)
