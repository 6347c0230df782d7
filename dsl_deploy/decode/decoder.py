"""`Decoder`: one spec, one implementation (native, numpy or cuda), scratch kept between frames."""
from __future__ import annotations

import dataclasses
import functools
import importlib
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import BackendUnavailable, InputError
from ..result import FrameResult
from ..spec import ModelSpec
from .boundary import check_confidences, check_pif_values, check_read_values, check_side, prepare
from .fields import check_pif, full_resolution

IMPLS = ("auto", "native", "numpy", "cuda")


def native_available() -> bool:
    """True when the compiled native decoder (dsl_deploy.decode._native) imports."""
    try:
        importlib.import_module("dsl_deploy.decode._native")
    except ImportError:
        return False
    return True


def resolve_impl(impl: str) -> str:
    """The concrete implementation for a name of IMPLS ('auto': native if built, else numpy)."""
    if impl not in IMPLS:
        raise InputError(f"impl: {impl!r} is not one of {', '.join(IMPLS)}")
    if impl == "auto":
        if native_available():
            return "native"
        _warn_fallback()
        return "numpy"
    return impl


@functools.lru_cache(maxsize=None)
def _warn_fallback() -> None:
    """Say once per process that 'auto' fell back to the NumPy reference (tens of times slower)."""
    package = Path(__file__).resolve().parent
    warnings.warn(f"the native decoder is not built in {package} (dsl_deploy.decode._native is missing); "
                  f"decoding with the NumPy reference, about 30x slower. Build it with 'pip install .' or "
                  f"'python setup.py build_ext --inplace' (a source checkout on sys.path shadows an installed "
                  f"copy: run from another folder)", RuntimeWarning, stacklevel=3)


def _native_module() -> Any:
    try:
        return importlib.import_module("dsl_deploy.decode._native")
    except ImportError as exc:
        raise BackendUnavailable(f"native decoder: the compiled module is not built ({exc}); run "
                                 f"'python setup.py build_ext --inplace' or 'pip install -e .', "
                                 f"or use impl='numpy'") from None


def _cuda_decoder(spec: ModelSpec) -> Any:
    try:
        cuda = importlib.import_module("dsl_deploy.decode.cuda")
    except ImportError as exc:
        raise BackendUnavailable(f"cuda decoder: dsl_deploy.decode.cuda is not available ({exc})") from None
    factory = getattr(cuda, "CudaDecoder", None)
    if factory is None:
        raise BackendUnavailable("cuda decoder: dsl_deploy.decode.cuda has no CudaDecoder")
    return factory(spec)  # raises BackendUnavailable itself when there is no device


class Decoder:
    """Decode ready fields into a FrameResult with the chosen implementation; reuse it across frames.

    `params` overrides decoder parameters of the spec (DecoderSpec field names, e.g. {"nms_window": 9}).
    """

    def __init__(self, spec: ModelSpec, *, impl: str = "auto", threads: int = 1,
                 params: Mapping[str, Any] | None = None) -> None:
        if not isinstance(spec, ModelSpec):
            raise InputError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
        if not isinstance(threads, int) or threads < 1:
            raise InputError(f"threads: expected a positive integer, got {threads!r}")
        if params is not None and not isinstance(params, Mapping):
            raise InputError(f"params: expected a mapping of decoder parameters, got {type(params).__name__}")
        spec = spec.with_decoder(params)
        spec.validate()
        self.spec = spec
        self.impl = resolve_impl(impl)
        self.threads = threads
        self._native: Any = None
        self._cuda: Any = None
        if self.impl == "native":
            params = dataclasses.asdict(spec.decoder)
            self._native = _native_module().NativeDecoder(params, threads)
        elif self.impl == "cuda":
            self._cuda = _cuda_decoder(spec)

    def __repr__(self) -> str:
        size = f"{self.spec.input.width}x{self.spec.input.height}"
        return f"Decoder(impl={self.impl!r}, threads={self.threads}, input={size})"

    def __call__(self, fields: Mapping[str, np.ndarray]) -> FrameResult:
        """Decode one frame (player, offset, pif; a batch of 1 allowed)."""
        if self._cuda is not None:
            return self._cuda(fields)
        t0 = time.perf_counter()
        player, offset, pif = full_resolution(fields, self.spec)
        t_prep = (time.perf_counter() - t0) * 1e3
        player, offset, pif = prepare(player, offset, pif)  # one boundary for every implementation
        if self._native is not None:
            result = self._native.decode(player, offset, pif)
        else:
            from .reference import decode_reference

            check_read_values(player, pif, self.spec.decoder)
            result = decode_reference(player, offset, pif, self.spec.decoder)
        if self.spec.seg_stride != 1:
            result.timings["upsample"] = t_prep
        # total is the whole call: boundary checks, upsampling and building the result included.
        result.timings["total"] = (time.perf_counter() - t0) * 1e3
        return result

    def fuse(self, pif: np.ndarray, height: int, width: int, *, exact: bool = False) -> np.ndarray:
        """Eq. 3 fused maps float32 [19, height, width]."""
        if self._cuda is not None and hasattr(self._cuda, "fuse"):
            return self._cuda.fuse(pif, height, width, exact=exact)
        height, width = check_side("height", height), check_side("width", width)
        pif = np.ascontiguousarray(check_pif(pif))
        check_confidences(pif)
        if self._native is not None:
            return self._native.fuse(pif, height, width, bool(exact))
        from .reference import fuse_maps

        check_pif_values(pif, self.spec.decoder)
        return fuse_maps(pif, height, width, self.spec.decoder, exact)
