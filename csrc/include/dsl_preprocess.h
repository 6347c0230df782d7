/*
 * dsl_preprocess.h: plain C ABI for the network input of one frame: a BGR uint8 frame of any size ->
 * the letterboxed input, normalised float32 planes [3][height][width] or letterboxed BGR uint8
 * [height][width][3] (for a graph that normalises itself), in one pass over the frame
 * (docs/architecture.md, "Runtime").
 *
 * The resize is dsl_deploy's "box-linear" (preprocess.RESIZE_MODES): 2x2 box halvings, each
 * (a + b + c + d + 2) >> 2, while the frame is at least twice the content size and its sides are even,
 * then bilinear with OpenCV's INTER_LINEAR arithmetic for uint8 (11-bit fixed-point weights, its
 * rounding), so the uint8 content equals cv2.resize's exactly; "linear" skips the halvings. The
 * float output is float32(v) * scale[c] + shift[c], two roundings (no fused multiply-add), as NumPy's.
 * No frame-size intermediate is written: each halved row is made when the bilinear pass needs it.
 *
 * Thread safety: one dsl_prep per thread; the error message of dsl_prep_last_error() is per thread.
 */
#ifndef DSL_PREPROCESS_H
#define DSL_PREPROCESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSL_PREPROCESS_VERSION "1.0.0"
#define DSL_PREP_MAX_SIDE 32767           /* largest frame or input side accepted */

typedef enum dsl_prep_status {
    DSL_PREP_OK = 0,
    DSL_PREP_ERR_ARGUMENT = 1,            /* NULL pointer, bad size, stride, rectangle or option */
    DSL_PREP_ERR_MEMORY = 3
} dsl_prep_status;

typedef enum dsl_prep_resize {
    DSL_PREP_BOX_LINEAR = 0,              /* halvings, then bilinear */
    DSL_PREP_LINEAR = 1                   /* bilinear only */
} dsl_prep_resize;

/* A BGR uint8 frame: pixel (x, y) channel c at data[y * row_stride + 3 * x + c]. */
typedef struct dsl_prep_frame {
    const uint8_t* data;
    int32_t width, height;
    int64_t row_stride;                   /* bytes between rows, >= 3 * width */
} dsl_prep_frame;

typedef struct dsl_prep_params {
    int32_t width, height;                /* the network input */
    int32_t content_x, content_y;         /* top-left of the letterboxed frame in the input */
    int32_t content_width, content_height;
    int32_t resize;                       /* dsl_prep_resize */
    int32_t write_padding;                /* nonzero: also fill the input outside the content */
    int32_t pad_value;                    /* 0..255, before normalisation */
    int32_t source_channel[3];            /* output channel c reads frame channel source_channel[c] (float) */
    float scale[3], shift[3];             /* float output channel c = v * scale[c] + shift[c] */
} dsl_prep_params;

typedef struct dsl_prep dsl_prep;

/* New scratch (grown on demand, reused between calls), or NULL when memory is short. */
dsl_prep* dsl_prep_create(void);

void dsl_prep_destroy(dsl_prep* prep);

/*
 * The letterbox of a frame in a width x height input (dsl_deploy.preprocess.letterbox_params):
 * s = min(width / frame_width, height / frame_height); content size max(1, min(side, round-half-even
 * (frame side * s))), centred (offset (side - content) / 2, rounded down). Writes content_x, content_y,
 * content_width and content_height of params.
 */
int dsl_prep_letterbox(int32_t frame_width, int32_t frame_height, dsl_prep_params* params);

/* Normalised float32 input [3][height][width] of one frame. */
int dsl_prep_float(dsl_prep* prep, const dsl_prep_frame* frame, const dsl_prep_params* params, float* out);

/* Letterboxed BGR uint8 input [height][width][3] (source_channel, scale and shift unused). */
int dsl_prep_uint8(dsl_prep* prep, const dsl_prep_frame* frame, const dsl_prep_params* params, uint8_t* out);

/* 1 when the vector kernels run (x86-64 with AVX2, DSL_PREPROCESS_PLAIN unset or "0"), else 0: the portable
 * loops give the same bytes but are no faster than OpenCV's SIMD resize. */
int dsl_prep_vectorized(void);

/* The message of the last error on this thread ("" when none). */
const char* dsl_prep_last_error(void);

const char* dsl_prep_version(void);

#ifdef __cplusplus
}
#endif

#endif /* DSL_PREPROCESS_H */
