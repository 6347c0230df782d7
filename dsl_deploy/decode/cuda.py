"""CUDA decoder: ctypes over libdsl_decode_cuda.so (csrc/cuda, C ABI csrc/include/dsl_decode_cuda.h).

Same contract as the NumPy reference and the native core (docs/architecture.md, "Decoding"). Host fields
are copied to the GPU; `decode_device` takes device pointers (e.g. TensorRT output bindings) so the fields
never leave the GPU. No torch; cuda-python is not needed either (the library does its own copies).
"""
from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import BackendUnavailable, DslError, InputError
from ..result import Ball, FrameResult
from ..spec import NUM_BODY_PARTS, NUM_TYPES, ModelSpec
from .fields import check_pif, split_fields

LIBRARY_NAME = "libdsl_decode_cuda.so"
LIBRARY_ENV = "DSL_CUDA_DECODER_LIB"  # overrides the library path

# Status codes of dsl_decode.h / dsl_decode_cuda.h.
_OK, _ERR_ARGUMENT, _ERR_NONFINITE, _ERR_MEMORY = 0, 1, 2, 3
_ERR_NO_DEVICE = 11
# dsl_output.timings_ms indices (DSL_STAGE_*); the ball is found with the poses on the GPU.
_STAGES = (("fuse", 0), ("maxima", 1), ("assign", 2), ("poses", 3), ("total", 5))


class DecodeParams(ctypes.Structure):
    """dsl_params of dsl_decode.h (2.0.0), which the CUDA library takes too."""

    _fields_ = [("seed_threshold", ctypes.c_float), ("keypoint_threshold", ctypes.c_float),
                ("player_threshold", ctypes.c_float), ("nms_window", ctypes.c_int32),
                ("truncate", ctypes.c_float), ("sigma_min", ctypes.c_float), ("weight_divisor", ctypes.c_float),
                ("exact", ctypes.c_int32), ("max_players", ctypes.c_int32), ("num_threads", ctypes.c_int32),
                # since dsl_decode.h 2.0.0
                ("strict_thresholds", ctypes.c_int32), ("support", ctypes.c_int32), ("gaussian", ctypes.c_int32),
                ("clamp", ctypes.c_float), ("keypoint_assignment", ctypes.c_int32),
                ("discard_mask_pixels", ctypes.c_int32), ("min_keypoints", ctypes.c_int32)]


# The C enums' order (DSL_SUPPORT_*, DSL_GAUSSIAN_*, DSL_KEYPOINTS_* of dsl_decode.h): index 0 is the authors' rule.
SUPPORTS = ("disc", "square")
GAUSSIANS = ("approx", "exp")
KEYPOINT_ASSIGNMENTS = ("nearest-centre", "own-mask")


class DecodeOutput(ctypes.Structure):
    """dsl_output of dsl_decode.h."""

    _fields_ = [("labels", ctypes.c_void_p), ("keypoints", ctypes.c_void_p), ("scores", ctypes.c_void_p),
                ("boxes", ctypes.c_void_p), ("areas", ctypes.c_void_p), ("centers", ctypes.c_void_p),
                ("num_players", ctypes.c_int32), ("has_ball", ctypes.c_int32), ("ball", ctypes.c_float * 3),
                ("timings_ms", ctypes.c_double * 6)]


def library_path() -> Path:
    """Where the CUDA decoder library is looked for ($DSL_CUDA_DECODER_LIB, else next to this module)."""
    override = os.environ.get(LIBRARY_ENV)
    return Path(override) if override else Path(__file__).with_name(LIBRARY_NAME)


_lib: ctypes.CDLL | None = None
_lib_error: str | None = None


def _declare(lib: ctypes.CDLL) -> None:
    vp, i32, fp = ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p
    lib.dsl_cuda_available.restype = ctypes.c_int
    lib.dsl_cuda_available.argtypes = []
    lib.dsl_cuda_last_error.restype = ctypes.c_char_p
    lib.dsl_cuda_last_error.argtypes = []
    lib.dsl_cuda_version.restype = ctypes.c_char_p
    lib.dsl_cuda_version.argtypes = []
    lib.dsl_cuda_set_device.restype = ctypes.c_int
    lib.dsl_cuda_set_device.argtypes = [i32]
    lib.dsl_cuda_decoder_create.restype = ctypes.c_int
    lib.dsl_cuda_decoder_create.argtypes = [i32, i32, i32, ctypes.POINTER(DecodeParams), ctypes.POINTER(vp)]
    lib.dsl_cuda_decoder_destroy.restype = None
    lib.dsl_cuda_decoder_destroy.argtypes = [vp]
    for name in ("dsl_cuda_decode", "dsl_cuda_decode_host"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = [vp, fp, fp, fp, vp]
    lib.dsl_cuda_fuse.restype = ctypes.c_int
    lib.dsl_cuda_fuse.argtypes = [vp, fp, i32, vp]
    lib.dsl_cuda_download.restype = ctypes.c_int
    lib.dsl_cuda_download.argtypes = [vp, ctypes.POINTER(DecodeOutput), vp]
    lib.dsl_cuda_download_fused.restype = ctypes.c_int
    lib.dsl_cuda_download_fused.argtypes = [vp, fp, vp]


def load_library() -> ctypes.CDLL:
    """The loaded library (once per process); BackendUnavailable saying why it cannot be loaded."""
    global _lib, _lib_error
    if _lib is not None:
        return _lib
    if _lib_error is None:
        path = library_path()
        if not path.is_file():
            _lib_error = (f"cuda decoder: {path} is not built (needs nvcc at build time: 'python setup.py "
                          f"build_ext --inplace' or 'pip install -e .'; DSL_BUILD_CUDA=0 skips it)")
        else:
            try:
                lib = ctypes.CDLL(str(path))
                _declare(lib)
                _lib = lib
                return lib
            except (OSError, AttributeError) as exc:
                _lib_error = (f"cuda decoder: cannot load {path} ({exc}); rebuild it with "
                              "'python setup.py build_ext --inplace'")
    raise BackendUnavailable(_lib_error)


def unavailable_reason() -> str:
    """Why the CUDA decoder cannot run here ('' when it can)."""
    try:
        lib = load_library()
    except BackendUnavailable as exc:
        return str(exc)
    if lib.dsl_cuda_available() > 0:
        return ""
    detail = lib.dsl_cuda_last_error().decode(errors="replace")
    return f"cuda decoder: no usable CUDA device or driver ({detail}); use the native or numpy decoder"


def is_available() -> bool:
    """True when the library is built and a CUDA device is usable."""
    return unavailable_reason() == ""


def _raise(lib: ctypes.CDLL, status: int, what: str) -> None:
    message = f"cuda decoder: {what}: {lib.dsl_cuda_last_error().decode(errors='replace')}"
    if status in (_ERR_ARGUMENT, _ERR_NONFINITE):
        raise InputError(message)
    if status == _ERR_NO_DEVICE:
        raise BackendUnavailable(message)
    raise DslError(message)


def _choice(name: str, value: object, options: tuple[str, ...]) -> int:
    if value not in options:
        raise InputError(f"params: {name} is {value!r}; expected one of {', '.join(options)}")
    return options.index(value)


def decode_params(spec: ModelSpec, exact: bool | None = None) -> DecodeParams:
    """The spec's decoder parameters as dsl_params (one OpenMP thread)."""
    d = spec.decoder
    return DecodeParams(d.seed_threshold, d.keypoint_threshold, d.player_threshold, d.nms_window, d.truncate,
                   d.sigma_min, d.weight_divisor, int(d.exact if exact is None else exact), d.max_players, 1,
                   int(bool(d.strict_thresholds)), _choice("support", d.support, SUPPORTS),
                   _choice("gaussian", d.gaussian, GAUSSIANS), 0.0 if d.clamp is None else d.clamp,
                   _choice("keypoint_assignment", d.keypoint_assignment, KEYPOINT_ASSIGNMENTS),
                   d.discard_mask_pixels, d.min_keypoints)


def _pointer(arr: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(arr.ctypes.data)


def frame_pointers(ptrs: Mapping[str, int], spec: ModelSpec, frame: int) -> dict[str, int]:
    """Device pointers of frame `frame` of a batch (e.g. `Backend.infer_device(...).pointers` [B, ...], float32)."""
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or frame < 0:
        raise InputError(f"frame: expected a non-negative int, got {frame!r}")
    hs, ws = spec.seg_size
    hp, wp = spec.pif_size
    floats = {"player": hs * ws, "offset": 2 * hs * ws, "pif": NUM_TYPES * 5 * hp * wp}
    out = {}
    for name, n in floats.items():
        if name not in ptrs:
            raise InputError(f"ptrs: missing {name!r} (expected device pointers player, offset, pif)")
        out[name] = int(ptrs[name]) + int(frame) * n * 4
    return out


class CudaDecoder:
    """Decode ready fields on the GPU into a FrameResult; scratch is allocated once for the spec's input size.

    `device`: the CUDA device (index) the decoder, its scratch and the fields live on.
    """

    def __init__(self, spec: ModelSpec, *, device: int = 0) -> None:
        if not isinstance(spec, ModelSpec):
            raise InputError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
        if isinstance(device, bool) or not isinstance(device, (int, np.integer)) or device < 0:
            raise InputError(f"device: expected a CUDA device index (int >= 0), got {device!r}")
        spec.validate()
        reason = unavailable_reason()
        if reason:
            raise BackendUnavailable(reason)
        self.spec = spec
        self.device = int(device)
        self._lib = load_library()
        self._handle = ctypes.c_void_p()
        self._exact_handle: ctypes.c_void_p | None = None
        self._handle = self._create(spec.decoder.exact)

    def _use_device(self) -> None:
        # The library's static cudart keeps its own current device per thread: set it on every call.
        status = self._lib.dsl_cuda_set_device(self.device)
        if status != _OK:
            _raise(self._lib, status, "device")

    def _create(self, exact: bool) -> ctypes.c_void_p:
        self._use_device()
        handle = ctypes.c_void_p()
        params = decode_params(self.spec, exact)
        status = self._lib.dsl_cuda_decoder_create(self.spec.input.height, self.spec.input.width,
                                                   self.spec.seg_stride, ctypes.byref(params), ctypes.byref(handle))
        if status != _OK:
            _raise(self._lib, status, "create")
        return handle

    def close(self) -> None:
        """Free the device scratch (also done when the object is collected)."""
        lib = getattr(self, "_lib", None)
        for name in ("_handle", "_exact_handle"):
            handle = getattr(self, name, None)
            if lib is not None and handle:
                lib.dsl_cuda_decoder_destroy(handle)
            setattr(self, name, None)

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> "CudaDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> ctypes.c_void_p:
        if not self._handle:
            raise InputError("cuda decoder: used after close()")
        self._use_device()
        return self._handle

    def __call__(self, fields: Mapping[str, np.ndarray]) -> FrameResult:
        """Decode one frame of host fields (player, offset, pif; a batch of 1 allowed): copy, decode, download."""
        t0 = time.perf_counter()
        player, offset, pif = (np.ascontiguousarray(a) for a in split_fields(fields, self.spec))
        status = self._lib.dsl_cuda_decode_host(self._live(), _pointer(player), _pointer(offset), _pointer(pif), None)
        if status != _OK:
            _raise(self._lib, status, "decode")
        return self._download(None, t0)

    def decode_device(self, ptrs: Mapping[str, int], stream: int = 0, *, frame: int = 0) -> FrameResult:
        """Decode fields already on the GPU: device pointers {'player', 'offset', 'pif'} (float32, the spec's
        shapes, batch allowed: `frame` picks the frame), on the CUDA stream `stream` (a cudaStream_t as int;
        0: the default stream), e.g. `out = trt.infer_device(batch); decode_device(out.pointers, out.stream)`."""
        t0 = time.perf_counter()
        if not isinstance(ptrs, Mapping):
            raise InputError(f"ptrs: expected a mapping of device pointers, got {type(ptrs).__name__}")
        if frame:
            ptrs = frame_pointers(ptrs, self.spec, frame)
        values = []
        for name in ("player", "offset", "pif"):
            v = ptrs.get(name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) <= 0:
                raise InputError(f"ptrs[{name!r}]: expected a device pointer (positive int), got {v!r}")
            values.append(ctypes.c_void_p(int(v)))
        if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or int(stream) < 0:
            raise InputError(f"stream: expected a cudaStream_t as a non-negative int, got {stream!r}")
        status = self._lib.dsl_cuda_decode(self._live(), *values, ctypes.c_void_p(int(stream) or None))
        if status != _OK:
            _raise(self._lib, status, "decode")
        return self._download(int(stream) or None, t0)

    def _download(self, stream: int | None, t0: float) -> FrameResult:
        h, w, k = self.spec.input.height, self.spec.input.width, self.spec.decoder.max_players
        labels = np.empty((h, w), np.int32)
        keypoints = np.empty((k, NUM_BODY_PARTS, 3), np.float32)
        scores = np.empty((k,), np.float32)
        boxes = np.empty((k, 4), np.float32)
        areas = np.empty((k,), np.int64)
        centers = np.empty((k, 2), np.float32)
        out = DecodeOutput(labels.ctypes.data, keypoints.ctypes.data, scores.ctypes.data, boxes.ctypes.data,
                      areas.ctypes.data, centers.ctypes.data)
        status = self._lib.dsl_cuda_download(self._live(), ctypes.byref(out), ctypes.c_void_p(stream))
        if status != _OK:
            _raise(self._lib, status, "decode")
        n = int(out.num_players)
        ball = Ball(float(out.ball[0]), float(out.ball[1]), float(out.ball[2])) if out.has_ball else None
        timings = {name: float(out.timings_ms[i]) for name, i in _STAGES}
        timings["wall"] = (time.perf_counter() - t0) * 1e3  # host view: copies, launches and waiting
        return FrameResult(labels=labels, keypoints=keypoints[:n].copy(), scores=scores[:n].copy(),
                           boxes=boxes[:n].copy(), areas=areas[:n].copy(), centers=centers[:n].copy(), ball=ball,
                           timings=timings)

    def fused_maps(self) -> np.ndarray:
        """The Eq. 3 maps float32 [19, H, W] of the last decode, copied to the host."""
        out = np.empty((NUM_TYPES, self.spec.input.height, self.spec.input.width), np.float32)
        status = self._lib.dsl_cuda_download_fused(self._live(), _pointer(out), None)
        if status != _OK:
            _raise(self._lib, status, "fused maps")
        return out

    def fuse(self, pif: np.ndarray, height: int, width: int, *, exact: bool = False) -> np.ndarray:
        """Eq. 3 fused maps float32 [19, height, width] of a host pif [19, 5, Hp, Wp] (the spec's size only)."""
        pif = np.ascontiguousarray(check_pif(pif))
        if (height, width) != (self.spec.input.height, self.spec.input.width):
            raise InputError(f"height/width: the CUDA decoder was made for {self.spec.input.width}x"
                             f"{self.spec.input.height}, got {width}x{height}")
        if pif.shape[2:] != self.spec.pif_size:
            raise InputError(f"pif: expected shape [19, 5, {self.spec.pif_size[0]}, {self.spec.pif_size[1]}], "
                             f"got {list(pif.shape)}")
        if not np.isfinite(pif).all():
            raise InputError("pif: holds NaN or inf")
        # The library fuses device memory only; the host path uploads through a decode with empty seg fields.
        zeros = np.zeros(self.spec.seg_size, np.float32)
        offset = np.zeros((2,) + self.spec.seg_size, np.float32)
        handle = self._handle_for(exact)
        status = self._lib.dsl_cuda_decode_host(handle, _pointer(zeros), _pointer(offset), _pointer(pif), None)
        if status != _OK:
            _raise(self._lib, status, "fuse")
        out = np.empty((NUM_TYPES, height, width), np.float32)
        status = self._lib.dsl_cuda_download_fused(handle, _pointer(out), None)
        if status != _OK:
            _raise(self._lib, status, "fuse")
        return out

    def _handle_for(self, exact: bool) -> ctypes.c_void_p:
        if bool(exact) == bool(self.spec.decoder.exact):
            return self._live()
        if not self._exact_handle:
            self._exact_handle = self._create(bool(exact))
        return self._exact_handle
