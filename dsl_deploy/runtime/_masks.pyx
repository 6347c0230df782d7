# cython: language_level=3, boundscheck=False, wraparound=False
"""Python binding of csrc/include/dsl_masks.h: players' COCO RLE at frame resolution from the network labels."""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.stdlib cimport free, malloc

from ..errors import InputError

cnp.import_array()


cdef extern from "dsl_masks.h" nogil:
    ctypedef struct dsl_letterbox:
        int32_t frame_width
        int32_t frame_height
        int32_t crop_x
        int32_t crop_y
        int32_t crop_width
        int32_t crop_height
        const int32_t* columns
        const int32_t* rows

    ctypedef struct dsl_rle:
        int32_t num_players
        int32_t height
        int32_t width
        const uint32_t* counts
        const int64_t* offsets
        const int64_t* areas

    ctypedef struct dsl_masks:
        pass

    int DSL_MASKS_OK
    int DSL_MASKS_ERR_MEMORY
    dsl_masks* dsl_masks_create()
    void dsl_masks_destroy(dsl_masks* masks)
    int dsl_masks_rle(dsl_masks* masks, const int32_t* labels, int32_t height, int32_t width, int32_t num_players,
                      const dsl_letterbox* letterbox, dsl_rle* out)
    int dsl_masks_frame_labels(const int32_t* labels, int32_t height, int32_t width, const dsl_letterbox* letterbox,
                               int32_t* out)
    int64_t dsl_masks_rle_string(const uint32_t* counts, int64_t n, char* out, int64_t capacity)
    const char* dsl_masks_last_error()
    const char* dsl_masks_version()


def version():
    """Version of the C masks core."""
    return dsl_masks_version().decode()


cdef object _labels(object labels):
    if not isinstance(labels, np.ndarray):
        raise InputError(f"labels: expected a numpy int32 array, got {type(labels).__name__}")
    if labels.dtype != np.int32:
        raise InputError(f"labels: expected int32, got {labels.dtype}")
    if labels.ndim != 2:
        raise InputError(f"labels: expected 2 dimensions, got shape {list(labels.shape)}")
    if not labels.flags.c_contiguous:
        raise InputError("labels: expected a C-contiguous array (use np.ascontiguousarray)")
    if labels.size == 0:
        raise InputError(f"labels: empty array of shape {list(labels.shape)}")
    return labels


cdef dsl_letterbox _letterbox(object box) except *:
    """(frame_width, frame_height, crop_x, crop_y, crop_width, crop_height) -> dsl_letterbox (no tables)."""
    cdef dsl_letterbox lb
    try:
        values = [int(v) for v in box]
    except (TypeError, ValueError):
        values = []
    if len(values) != 6 or any(not -2 ** 31 <= v < 2 ** 31 for v in values):
        raise InputError(f"letterbox: expected 6 integers (frame_width, frame_height, crop_x, crop_y, crop_width, "
                         f"crop_height), got {box!r}")
    lb.frame_width, lb.frame_height, lb.crop_x, lb.crop_y, lb.crop_width, lb.crop_height = values
    lb.columns = NULL
    lb.rows = NULL
    return lb


cdef object _table(str name, object table, int32_t length):
    """None, or the table as a C-contiguous int32 array of `length` entries; InputError otherwise."""
    if table is None:
        return None
    if not isinstance(table, np.ndarray) or table.dtype != np.int32 or table.ndim != 1:
        raise InputError(f"{name}: expected a 1-D numpy int32 array, got "
                         f"{getattr(table, 'dtype', type(table).__name__)} of shape {list(np.shape(table))}")
    if table.shape[0] != length:
        raise InputError(f"{name}: expected {length} entries (the frame's size), got {table.shape[0]}")
    return np.ascontiguousarray(table)


cdef object _raise(int status):
    message = dsl_masks_last_error().decode(errors="replace")
    if status == DSL_MASKS_ERR_MEMORY:
        raise MemoryError(message)
    raise InputError(message)


cdef class FrameMasks:
    """Scratch for per-player RLE at frame resolution, reused between calls; one per thread."""

    cdef dsl_masks* _m

    def __cinit__(self):
        self._m = dsl_masks_create()
        if self._m == NULL:
            raise MemoryError(dsl_masks_last_error().decode(errors="replace"))

    def __dealloc__(self):
        if self._m != NULL:
            dsl_masks_destroy(self._m)
            self._m = NULL

    def rle(self, labels, num_players, letterbox, columns=None, rows=None):
        """(counts uint32, offsets int64 [n + 1], areas int64 [n]) of players 1..n at frame resolution.

        `letterbox` is (frame_width, frame_height, crop_x, crop_y, crop_width, crop_height); `columns` and
        `rows` optional int32 sampling tables (see dsl_masks.h).
        """
        arr = _labels(labels)
        if not isinstance(num_players, (int, np.integer)) or not 0 <= num_players < 2 ** 31:
            raise InputError(f"num_players: expected a non-negative integer, got {num_players!r}")
        cdef dsl_letterbox lb = _letterbox(letterbox)
        cols = _table("columns", columns, lb.frame_width)
        rws = _table("rows", rows, lb.frame_height)
        if cols is not None:
            lb.columns = <const int32_t*>cnp.PyArray_DATA(cols)
        if rws is not None:
            lb.rows = <const int32_t*>cnp.PyArray_DATA(rws)
        cdef dsl_rle out
        cdef int32_t n = num_players
        cdef int32_t h = arr.shape[0], w = arr.shape[1]
        cdef const int32_t* data = <const int32_t*>cnp.PyArray_DATA(arr)
        cdef int status
        with nogil:
            status = dsl_masks_rle(self._m, data, h, w, n, &lb, &out)
        if status != DSL_MASKS_OK:
            _raise(status)
        offsets = np.empty(n + 1, np.int64)
        areas = np.empty(n, np.int64)
        cdef int64_t[::1] o = offsets
        cdef int64_t[::1] a = areas
        cdef int64_t i
        for i in range(n + 1):
            o[i] = out.offsets[i]
        for i in range(n):
            a[i] = out.areas[i]
        counts = np.empty(out.offsets[n], np.uint32)
        cdef uint32_t[::1] c = counts
        for i in range(out.offsets[n]):
            c[i] = out.counts[i]
        return counts, offsets, areas


def frame_labels(labels, letterbox, columns=None, rows=None):
    """The frame-size label map [frame_height, frame_width] int32 (the sampling of FrameMasks.rle)."""
    arr = _labels(labels)
    cdef dsl_letterbox lb = _letterbox(letterbox)
    if not 1 <= lb.frame_width <= 65535 or not 1 <= lb.frame_height <= 65535:
        raise InputError(f"letterbox: frame size {lb.frame_width}x{lb.frame_height} is outside 1..65535")
    cols = _table("columns", columns, lb.frame_width)
    rws = _table("rows", rows, lb.frame_height)
    if cols is not None:
        lb.columns = <const int32_t*>cnp.PyArray_DATA(cols)
    if rws is not None:
        lb.rows = <const int32_t*>cnp.PyArray_DATA(rws)
    out = np.empty((lb.frame_height, lb.frame_width), np.int32)
    cdef int32_t h = arr.shape[0], w = arr.shape[1]
    cdef const int32_t* data = <const int32_t*>cnp.PyArray_DATA(arr)
    cdef int32_t* dst = <int32_t*>cnp.PyArray_DATA(out)
    cdef int status
    with nogil:
        status = dsl_masks_frame_labels(data, h, w, &lb, dst)
    if status != DSL_MASKS_OK:
        _raise(status)
    return out


def rle_string(counts):
    """COCO's compressed RLE string of run lengths (as pycocotools writes it)."""
    arr = np.ascontiguousarray(counts, dtype=np.uint32)
    if arr.ndim != 1:
        raise InputError(f"counts: expected 1 dimension, got shape {list(arr.shape)}")
    cdef int64_t n = arr.shape[0]
    cdef int64_t cap = 7 * n + 1
    cdef char* buf = <char*>malloc(cap)
    if buf == NULL:
        raise MemoryError("rle_string: out of memory")
    cdef int64_t length
    try:
        length = dsl_masks_rle_string(<const uint32_t*>cnp.PyArray_DATA(arr), n, buf, cap)
        if length < 0 or length >= cap:
            raise InputError(f"counts: could not encode {n} run lengths")
        return buf[:length].decode("ascii")
    finally:
        free(buf)
