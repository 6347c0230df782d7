# cython: language_level=3, boundscheck=False, wraparound=False
"""Python binding of the C++ decoder core (csrc/include/dsl_decode.h): checks at the boundary, GIL released."""
import threading

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcpy

from ..errors import InputError
from ..result import Ball, FrameResult

cnp.import_array()


cdef extern from "dsl_decode.h" nogil:
    ctypedef struct dsl_params:
        float seed_threshold
        float keypoint_threshold
        float player_threshold
        int32_t nms_window
        float truncate
        float sigma_min
        float weight_divisor
        int32_t exact
        int32_t max_players
        int32_t num_threads
        int32_t strict_thresholds
        int32_t support
        int32_t gaussian
        float clamp
        int32_t keypoint_assignment
        int32_t discard_mask_pixels
        int32_t min_keypoints

    ctypedef struct dsl_fields:
        const float* player
        const float* offset
        const float* pif
        int32_t height
        int32_t width
        int32_t pif_height
        int32_t pif_width

    ctypedef struct dsl_output:
        int32_t* labels
        float* keypoints
        float* scores
        float* boxes
        int64_t* areas
        float* centers
        int32_t num_players
        int32_t has_ball
        float ball[3]
        double timings_ms[6]

    ctypedef struct dsl_decoder:
        pass

    int DSL_OK
    int DSL_ERR_NONFINITE
    int DSL_ERR_MEMORY
    void dsl_params_default(dsl_params* params)
    dsl_decoder* dsl_decoder_create(const dsl_params* params)
    void dsl_decoder_destroy(dsl_decoder* decoder)
    int dsl_decoder_fuse(dsl_decoder* decoder, const float* pif, int32_t pif_height, int32_t pif_width,
                         int32_t height, int32_t width, int32_t exact, float* out)
    int dsl_decoder_decode(dsl_decoder* decoder, const dsl_fields* fields, dsl_output* out)
    const char* dsl_decoder_last_error()
    const char* dsl_decode_version()
    int dsl_decode_has_openmp()


STAGES = ("fuse", "maxima", "assign", "poses", "ball", "total")
# The C enums' order (dsl_decode.h): index 0 is the authors' rule.
SUPPORTS = ("disc", "square")
GAUSSIANS = ("approx", "exp")
KEYPOINT_ASSIGNMENTS = ("nearest-centre", "own-mask")
_MAX_SIDE = 8192


def version():
    """Version of the C core."""
    return dsl_decode_version().decode()


def has_openmp():
    """True when the C core was compiled with OpenMP (threads > 1 then run in parallel)."""
    return bool(dsl_decode_has_openmp())


cdef object _array(str name, object arr, int ndim):
    """The array itself when it is a C-contiguous float32 ndarray of `ndim` dimensions; InputError otherwise."""
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{name}: expected a numpy float32 array, got {type(arr).__name__}")
    if arr.dtype != np.float32:
        raise InputError(f"{name}: expected float32, got {arr.dtype}")
    if arr.ndim != ndim:
        raise InputError(f"{name}: expected {ndim} dimensions, got shape {list(arr.shape)}")
    if not arr.flags.c_contiguous:
        raise InputError(f"{name}: expected a C-contiguous array (use np.ascontiguousarray)")
    if arr.size == 0:
        raise InputError(f"{name}: empty array of shape {list(arr.shape)}")
    return arr


cdef object _pif(object pif):
    arr = _array("pif", pif, 4)
    if arr.shape[0] != 19 or arr.shape[1] != 5:
        raise InputError(f"pif: expected shape [19, 5, Hp, Wp], got {list(arr.shape)}")
    return arr


cdef int _size(str name, object value) except -1:
    if not isinstance(value, (int, np.integer)) or value < 1 or value > _MAX_SIDE:
        raise InputError(f"{name}: expected an integer in [1, {_MAX_SIDE}], got {value!r}")
    return int(value)


cdef int _choice(str name, object value, tuple options) except -1:
    if value not in options:
        raise InputError(f"params: {name} is {value!r}; expected one of {', '.join(options)}")
    return options.index(value)


cdef object _raise(int status):
    message = dsl_decoder_last_error().decode(errors="replace")
    if status == DSL_ERR_MEMORY:
        raise MemoryError(message)
    raise InputError(message)


cdef class NativeDecoder:
    """One C decoder (its scratch reused across frames); calls are serialised, the GIL is released inside."""

    cdef dsl_decoder* _ptr
    cdef dsl_params _params
    cdef object _lock

    def __cinit__(self, dict params, int threads=1):
        cdef dsl_params p
        dsl_params_default(&p)
        p.seed_threshold = params.get("seed_threshold", p.seed_threshold)
        p.keypoint_threshold = params.get("keypoint_threshold", p.keypoint_threshold)
        p.player_threshold = params.get("player_threshold", p.player_threshold)
        p.nms_window = params.get("nms_window", p.nms_window)
        p.truncate = params.get("truncate", p.truncate)
        p.sigma_min = params.get("sigma_min", p.sigma_min)
        p.weight_divisor = params.get("weight_divisor", p.weight_divisor)
        p.exact = 1 if params.get("exact", False) else 0
        p.max_players = params.get("max_players", p.max_players)
        p.strict_thresholds = 1 if params.get("strict_thresholds", True) else 0
        p.support = _choice("support", params.get("support", "disc"), SUPPORTS)
        p.gaussian = _choice("gaussian", params.get("gaussian", "approx"), GAUSSIANS)
        clamp = params.get("clamp", 1.0)
        p.clamp = 0.0 if clamp is None else clamp
        p.keypoint_assignment = _choice("keypoint_assignment", params.get("keypoint_assignment", "nearest-centre"),
                                        KEYPOINT_ASSIGNMENTS)
        p.discard_mask_pixels = params.get("discard_mask_pixels", p.discard_mask_pixels)
        p.min_keypoints = params.get("min_keypoints", p.min_keypoints)
        p.num_threads = threads
        self._params = p
        self._ptr = dsl_decoder_create(&self._params)
        if self._ptr == NULL:
            raise InputError(dsl_decoder_last_error().decode(errors="replace"))
        self._lock = threading.Lock()

    def __dealloc__(self):
        if self._ptr != NULL:
            dsl_decoder_destroy(self._ptr)
            self._ptr = NULL

    @property
    def threads(self):
        """OpenMP threads the core uses."""
        return self._params.num_threads

    def fuse(self, pif, height, width, exact=False):
        """Eq. 3 maps float32 [19, height, width] of a pif field [19, 5, Hp, Wp]."""
        arr = _pif(pif)
        cdef int32_t h = _size("height", height)
        cdef int32_t w = _size("width", width)
        cdef int32_t hp = arr.shape[2]
        cdef int32_t wp = arr.shape[3]
        cdef int32_t ex = 1 if exact else 0
        cdef cnp.ndarray out = np.empty((19, h, w), np.float32)
        cdef const float* pp = <const float*>cnp.PyArray_DATA(arr)
        cdef float* po = <float*>cnp.PyArray_DATA(out)
        cdef int status
        with self._lock:
            with nogil:
                status = dsl_decoder_fuse(self._ptr, pp, hp, wp, h, w, ex, po)
        if status != DSL_OK:
            _raise(status)
        return out

    def decode(self, player, offset, pif):
        """Decode full-resolution player [H, W], offset [2, H, W] and pif [19, 5, Hp, Wp] into a FrameResult."""
        pl = _array("player", player, 2)
        of = _array("offset", offset, 3)
        pf = _pif(pif)
        cdef int32_t h = _size("player height", pl.shape[0])
        cdef int32_t w = _size("player width", pl.shape[1])
        if of.shape[0] != 2 or of.shape[1] != h or of.shape[2] != w:
            raise InputError(f"offset: expected shape [2, {h}, {w}] to match player, got {list(of.shape)}")
        cdef dsl_fields f
        f.player = <const float*>cnp.PyArray_DATA(pl)
        f.offset = <const float*>cnp.PyArray_DATA(of)
        f.pif = <const float*>cnp.PyArray_DATA(pf)
        f.height = h
        f.width = w
        f.pif_height = pf.shape[2]
        f.pif_width = pf.shape[3]
        cdef cnp.ndarray labels = np.empty((h, w), np.int32)
        cdef dsl_output o
        o.labels = <int32_t*>cnp.PyArray_DATA(labels)
        o.keypoints = NULL
        o.scores = NULL
        o.boxes = NULL
        o.areas = NULL
        o.centers = NULL
        cdef int status
        with self._lock:
            with nogil:
                status = dsl_decoder_decode(self._ptr, &f, &o)
            if status != DSL_OK:
                _raise(status)
            n = o.num_players
            keypoints = np.empty((n, 17, 3), np.float32)
            scores = np.empty((n,), np.float32)
            boxes = np.empty((n, 4), np.float32)
            areas = np.empty((n,), np.int64)
            centers = np.empty((n, 2), np.float32)
            if n > 0:
                memcpy(cnp.PyArray_DATA(keypoints), o.keypoints, n * 17 * 3 * sizeof(float))
                memcpy(cnp.PyArray_DATA(scores), o.scores, n * sizeof(float))
                memcpy(cnp.PyArray_DATA(boxes), o.boxes, n * 4 * sizeof(float))
                memcpy(cnp.PyArray_DATA(areas), o.areas, n * sizeof(int64_t))
                memcpy(cnp.PyArray_DATA(centers), o.centers, n * 2 * sizeof(float))
        ball = Ball(float(o.ball[0]), float(o.ball[1]), float(o.ball[2])) if o.has_ball else None
        timings = {STAGES[i]: float(o.timings_ms[i]) for i in range(6)}
        return FrameResult(labels=labels, keypoints=keypoints, scores=scores, boxes=boxes, areas=areas,
                           centers=centers, ball=ball, timings=timings)
