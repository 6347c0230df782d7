/*
 * dsl_decode.h: plain C ABI of the DeepSportLab CPU decoder (docs/architecture.md, "Decoding").
 *
 * Float buffers in, float/int buffers out; no C++ type crosses this header. All arrays are dense,
 * C-contiguous (row-major), indexed [y, x]; coordinates in outputs are (x, y) pixels of the
 * network input. Player and offset fields are given at full resolution (H x W); a caller whose
 * network runs with seg_stride 4 upsamples them first (dsl_deploy does so in Python).
 *
 * Thread safety: one dsl_decoder per thread (a decoder owns its scratch). The error message of
 * dsl_decoder_last_error() is per thread.
 */
#ifndef DSL_DECODE_H
#define DSL_DECODE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSL_DECODE_VERSION "2.0.0"  /* 2: the authors' rules (dsl_params grew) */

#define DSL_NUM_TYPES 19      /* 17 COCO body parts, ball, player centre */
#define DSL_NUM_BODY_PARTS 17
#define DSL_TYPE_BALL 17
#define DSL_TYPE_CENTER 18
#define DSL_PIF_CHANNELS 5    /* confidence, x, y, b, sigma (ready fields, absolute input pixels) */

/* Error codes returned by the functions below (0 is success). */
typedef enum dsl_status {
    DSL_OK = 0,
    DSL_ERR_ARGUMENT = 1,     /* NULL pointer, bad size or bad parameter */
    DSL_ERR_NONFINITE = 2,    /* NaN or inf in a value the decode reads */
    DSL_ERR_MEMORY = 3,       /* allocation failed */
    DSL_ERR_INTERNAL = 4
} dsl_status;

/* Decode stages timed in dsl_output.timings_ms. */
enum {
    DSL_STAGE_FUSE = 0,
    DSL_STAGE_MAXIMA = 1,     /* centre maxima + centre ranking */
    DSL_STAGE_ASSIGN = 2,     /* Eq. 4, renumbering, boxes, areas */
    DSL_STAGE_POSES = 3,      /* body-part maxima and their assignment */
    DSL_STAGE_BALL = 4,
    DSL_STAGE_TOTAL = 5,
    DSL_NUM_STAGES = 6
};

/* Choices of the decoder's rules (docs/architecture.md, "Decoding"); 0 is the authors' rule. */
enum { DSL_SUPPORT_DISC = 0, DSL_SUPPORT_SQUARE = 1 };
enum { DSL_GAUSSIAN_APPROX = 0, DSL_GAUSSIAN_EXP = 1 };
enum { DSL_KEYPOINTS_NEAREST_CENTRE = 0, DSL_KEYPOINTS_OWN_MASK = 1 };

/* Decoder parameters: the fields of dsl_deploy.spec.DecoderSpec, plus the thread count. */
typedef struct dsl_params {
    float seed_threshold;     /* PIF cells above this confidence splat */
    float keypoint_threshold; /* fused maxima above this are kept */
    float player_threshold;   /* a pixel is a player when its probability is above this */
    int32_t nms_window;       /* local-maximum window, odd, full-resolution pixels */
    float truncate;           /* Gaussian support in sigmas */
    float sigma_min;          /* sigma floor in pixels */
    float weight_divisor;     /* each seed splats confidence / this */
    int32_t exact;            /* non-zero: the untruncated sum of Eq. 3 (true exp, no clamp, weight 1) */
    int32_t max_players;      /* centres kept, by score */
    int32_t num_threads;      /* OpenMP threads (1: none; ignored when built without OpenMP) */
    /* since 2.0.0 */
    int32_t strict_thresholds; /* non-zero: the three thresholds compare with '>' (else '>=') */
    int32_t support;          /* DSL_SUPPORT_*: a seed's pixels are the disc of radius truncate*sigma or its square */
    int32_t gaussian;         /* DSL_GAUSSIAN_*: exp(x) as (1 + x/8)^8 on [-2, 2] (0 outside), or the true exp */
    float clamp;              /* fused maps are clamped at this value; <= 0: no clamp */
    int32_t keypoint_assignment; /* DSL_KEYPOINTS_*: body-part maxima join the centre nearest to pixel + offset,
                                    or the player whose mask holds them */
    int32_t discard_mask_pixels; /* players with at most this many mask pixels are dropped */
    int32_t min_keypoints;    /* players with fewer keypoints found (the centre counted) are dropped */
} dsl_params;

/* One frame of ready fields (batch removed). */
typedef struct dsl_fields {
    const float* player;      /* [height * width] player probability */
    const float* offset;      /* [2 * height * width] (dx, dy) to the player's centre, pixels */
    const float* pif;         /* [19 * 5 * pif_height * pif_width] */
    int32_t height, width;    /* full resolution */
    int32_t pif_height, pif_width;
} dsl_fields;

/*
 * Decode output. Each array pointer may be set by the caller (capacity as noted) or left NULL,
 * in which case dsl_decoder_decode points it at a decoder-owned buffer, valid until the next
 * call on that decoder or its destruction.
 */
typedef struct dsl_output {
    int32_t* labels;          /* [height * width]: 0 background, i + 1 player i */
    float* keypoints;         /* [max_players * 17 * 3] (x, y, score); score 0: not found */
    float* scores;            /* [max_players] */
    float* boxes;             /* [max_players * 4] x0, y0, x1, y1 (x1, y1 exclusive) */
    int64_t* areas;           /* [max_players] */
    float* centers;           /* [max_players * 2] (x, y) */
    int32_t num_players;      /* written: players kept (<= max_players), by score descending */
    int32_t has_ball;         /* written: 1 when ball holds a detection */
    float ball[3];            /* written: (x, y, score) */
    double timings_ms[DSL_NUM_STAGES]; /* written */
} dsl_output;

typedef struct dsl_decoder dsl_decoder;

/* The defaults of DecoderSpec: the authors' rules (thresholds 0.1, 0.1, 0.5 strict, window 13, disc, approx exp,
 * clamp 1.0, nearest-centre keypoints, more than 100 mask pixels and 5 keypoints), 256 players, 1 thread. */
void dsl_params_default(dsl_params* params);

/* A new decoder, or NULL (see dsl_decoder_last_error) when params are invalid or memory is short. */
dsl_decoder* dsl_decoder_create(const dsl_params* params);

void dsl_decoder_destroy(dsl_decoder* decoder);

/* The parameters a decoder was made with. */
const dsl_params* dsl_decoder_params(const dsl_decoder* decoder);

/* Eq. 3 only: fused maps [19 * height * width] of a pif field, written (all of them) to out. */
int dsl_decoder_fuse(dsl_decoder* decoder, const float* pif, int32_t pif_height, int32_t pif_width,
                     int32_t height, int32_t width, int32_t exact, float* out);

/* The whole decode of one frame. Returns DSL_OK or an error code; out is valid only on DSL_OK. */
int dsl_decoder_decode(dsl_decoder* decoder, const dsl_fields* fields, dsl_output* out);

/* The fused maps [19 * height * width] of the last successful decode or fuse (decoder-owned), or NULL. */
const float* dsl_decoder_fused(const dsl_decoder* decoder, int32_t* height, int32_t* width);

/* The message of the last error on this thread ("" when none). */
const char* dsl_decoder_last_error(void);

/* DSL_DECODE_VERSION, and whether OpenMP was compiled in. */
const char* dsl_decode_version(void);
int dsl_decode_has_openmp(void);

#ifdef __cplusplus
}
#endif

#endif /* DSL_DECODE_H */
