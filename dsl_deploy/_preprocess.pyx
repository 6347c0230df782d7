# cython: language_level=3, boundscheck=False, wraparound=False
"""Python binding of csrc/include/dsl_preprocess.h: a BGR uint8 frame -> the letterboxed network input, one pass."""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t

from .errors import InputError

cnp.import_array()


cdef extern from "dsl_preprocess.h" nogil:
    ctypedef struct dsl_prep_frame:
        const uint8_t* data
        int32_t width
        int32_t height
        int64_t row_stride

    ctypedef struct dsl_prep_params:
        int32_t width
        int32_t height
        int32_t content_x
        int32_t content_y
        int32_t content_width
        int32_t content_height
        int32_t resize
        int32_t write_padding
        int32_t pad_value
        int32_t source_channel[3]
        float scale[3]
        float shift[3]

    ctypedef struct dsl_prep:
        pass

    int DSL_PREP_OK
    int DSL_PREP_ERR_MEMORY
    int DSL_PREP_MAX_SIDE
    dsl_prep* dsl_prep_create()
    void dsl_prep_destroy(dsl_prep* prep)
    int dsl_prep_letterbox(int32_t frame_width, int32_t frame_height, dsl_prep_params* params)
    int dsl_prep_float(dsl_prep* prep, const dsl_prep_frame* frame, const dsl_prep_params* params, float* out)
    int dsl_prep_uint8(dsl_prep* prep, const dsl_prep_frame* frame, const dsl_prep_params* params, uint8_t* out)
    int dsl_prep_vectorized()
    const char* dsl_prep_last_error()
    const char* dsl_prep_version()


RESIZES = {"box-linear": 0, "linear": 1}


def version():
    """Version of the C preprocess core."""
    return dsl_prep_version().decode()


def vectorized():
    """Whether the vector kernels run here (else the portable loops: the same bytes, no faster than OpenCV)."""
    return dsl_prep_vectorized() == 1


cdef object _raise(int status):
    message = dsl_prep_last_error().decode(errors="replace")
    if status == DSL_PREP_ERR_MEMORY:
        raise MemoryError(message)
    raise InputError(message)


cdef int32_t _side(str name, object value) except? -1:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= DSL_PREP_MAX_SIDE:
        raise InputError(f"{name}: expected an integer in 1..{DSL_PREP_MAX_SIDE}, got {value!r}")
    return value


cdef dsl_prep_frame _frame(object frame) except *:
    """A BGR uint8 H x W x 3 array whose pixels are packed (rows may be strided, as a crop's)."""
    cdef dsl_prep_frame f
    if not isinstance(frame, np.ndarray):
        raise InputError(f"frame: expected a numpy uint8 array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InputError(f"frame: expected dtype uint8, got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame: expected shape (H, W, 3), got {tuple(frame.shape)}")
    f.height = _side("frame height", frame.shape[0])
    f.width = _side("frame width", frame.shape[1])
    if frame.strides[2] != 1 or (frame.shape[1] > 1 and frame.strides[1] != 3) or frame.strides[0] < 3 * f.width:
        raise InputError(f"frame: pixels must be packed BGR rows (strides {frame.strides}); use np.ascontiguousarray")
    f.row_stride = frame.strides[0]
    f.data = <const uint8_t*>cnp.PyArray_DATA(frame)
    return f


cdef dsl_prep_params _params(tuple size, object content, object resize, object pad_value,
                             object write_padding) except *:
    cdef dsl_prep_params p
    p.height = _side("input height", size[0])
    p.width = _side("input width", size[1])
    try:
        x, y, w, h = (int(v) for v in content)
    except (TypeError, ValueError):
        raise InputError(f"content: expected 4 integers (x, y, width, height), got {content!r}") from None
    if not (0 <= x and 0 <= y and 1 <= w and 1 <= h and x + w <= p.width and y + h <= p.height):
        raise InputError(f"content: ({x}, {y}, {w}, {h}) is not inside the {p.width}x{p.height} input")
    p.content_x, p.content_y, p.content_width, p.content_height = x, y, w, h
    if resize not in RESIZES:
        raise InputError(f"resize: expected one of {', '.join(RESIZES)}, got {resize!r}")
    p.resize = RESIZES[resize]
    if isinstance(pad_value, bool) or not isinstance(pad_value, (int, np.integer)) or not 0 <= pad_value <= 255:
        raise InputError(f"pad_value: expected an integer in 0..255, got {pad_value!r}")
    p.pad_value = pad_value
    p.write_padding = 1 if write_padding else 0
    for c in range(3):
        p.source_channel[c] = c
        p.scale[c] = 1.0
        p.shift[c] = 0.0
    return p


def letterbox(frame_width, frame_height, width, height):
    """(x, y, content_width, content_height) of a frame letterboxed into width x height (the C core's rule)."""
    cdef dsl_prep_params p
    p.width = _side("input width", width)
    p.height = _side("input height", height)
    status = dsl_prep_letterbox(_side("frame width", frame_width), _side("frame height", frame_height), &p)
    if status != DSL_PREP_OK:
        _raise(status)
    return p.content_x, p.content_y, p.content_width, p.content_height


def _check_out(out, dtype, channel_axis, layout):
    """InputError unless `out` is a writeable C-contiguous 3-D `dtype` array with 3 channels on `channel_axis`."""
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.ndim != 3 or out.shape[channel_axis] != 3:
        raise InputError(f"out: expected a {np.dtype(dtype).name} array of shape {layout}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {tuple(np.shape(out))}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InputError("out: expected a writeable C-contiguous array")


cdef class Preprocess:
    """Scratch for the native letterbox, reused between calls; one per thread."""

    cdef dsl_prep* _p

    def __cinit__(self):
        self._p = dsl_prep_create()
        if self._p == NULL:
            raise MemoryError(dsl_prep_last_error().decode(errors="replace"))

    def __dealloc__(self):
        if self._p != NULL:
            dsl_prep_destroy(self._p)
            self._p = NULL

    def __reduce__(self):
        # Only scratch inside: a copy (pickled Preprocessor, a worker process) starts with its own.
        return (Preprocess, ())

    def float_input(self, frame, out, content, *, resize="box-linear", pad_value=0, source_channel=(2, 1, 0),
                    scale=(1.0, 1.0, 1.0), shift=(0.0, 0.0, 0.0), write_padding=True):
        """Write the normalised letterboxed frame into `out` (float32 [3, H, W], C-contiguous)."""
        _check_out(out, np.float32, 0, "(3, H, W)")
        cdef dsl_prep_frame f = _frame(frame)
        cdef dsl_prep_params p = _params(out.shape[1:], content, resize, pad_value, write_padding)
        try:
            sources = [int(v) for v in source_channel]
            scales = [float(v) for v in scale]
            shifts = [float(v) for v in shift]
        except (TypeError, ValueError):
            raise InputError("source_channel, scale, shift: expected 3 numbers each") from None
        if len(sources) != 3 or len(scales) != 3 or len(shifts) != 3 or any(not 0 <= s <= 2 for s in sources):
            raise InputError(f"source_channel, scale, shift: expected 3 each, channels in 0..2; got {source_channel!r}, "
                             f"{scale!r}, {shift!r}")
        for c in range(3):
            p.source_channel[c] = sources[c]
            p.scale[c] = scales[c]
            p.shift[c] = shifts[c]
        cdef float* dst = <float*>cnp.PyArray_DATA(out)
        cdef int status
        with nogil:
            status = dsl_prep_float(self._p, &f, &p, dst)
        if status != DSL_PREP_OK:
            _raise(status)

    def uint8_input(self, frame, out, content, *, resize="box-linear", pad_value=0, write_padding=True):
        """Write the letterboxed BGR frame into `out` (uint8 [H, W, 3], C-contiguous)."""
        _check_out(out, np.uint8, 2, "(H, W, 3)")
        cdef dsl_prep_frame f = _frame(frame)
        cdef dsl_prep_params p = _params(out.shape[:2], content, resize, pad_value, write_padding)
        cdef uint8_t* dst = <uint8_t*>cnp.PyArray_DATA(out)
        cdef int status
        with nogil:
            status = dsl_prep_uint8(self._p, &f, &p, dst)
        if status != DSL_PREP_OK:
            _raise(status)
