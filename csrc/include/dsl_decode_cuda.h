/*
 * dsl_decode_cuda.h: plain C ABI of the DeepSportLab CUDA decoder (docs/architecture.md, "Decoding").
 *
 * Same contract, parameters (dsl_params) and output struct (dsl_output) as the CPU decoder of
 * dsl_decode.h, but the fields are DEVICE pointers (for example TensorRT output bindings), so
 * they never leave the GPU. Every stage runs on the stream the caller gives; nothing is allocated
 * per frame (scratch is allocated at create time for one frame size).
 *
 *   dsl_cuda_decoder* dec;
 *   dsl_cuda_decoder_create(641, 641, 1, &params, &dec);
 *   dsl_cuda_decode(dec, d_player, d_offset, d_pif, stream);   // asynchronous
 *   dsl_cuda_download(dec, &out, stream);                       // synchronises the stream
 *
 * Inputs (device, float32, C-contiguous, one frame): player [Hs * Ws], offset [2 * Hs * Ws],
 * pif [19 * 5 * Hp * Wp], with (Hs, Ws) = (H, W) for seg_stride 1 or ((H-1)/4+1, (W-1)/4+1)
 * for seg_stride 4 (then upsampled in the kernels, bilinear with corners aligned), and
 * (Hp, Wp) = ((H-1)/8+1, (W-1)/8+1).
 *
 * Thread safety: one decoder per thread at a time. dsl_cuda_last_error() is per thread.
 * A decoder belongs to the CUDA device that was current at create time (see dsl_cuda_set_device);
 * call it with that device current. Device pointers and streams from another runtime or the driver
 * API of the same process are fine: they share the device's primary context.
 */
#ifndef DSL_DECODE_CUDA_H
#define DSL_DECODE_CUDA_H

#include <stdint.h>

#include "dsl_decode.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSL_DECODE_CUDA_VERSION "2.0.0"  /* 2: the authors' rules of dsl_decode.h 2.0.0 */

/* Status codes beyond dsl_status (DSL_OK, DSL_ERR_ARGUMENT, DSL_ERR_NONFINITE, DSL_ERR_MEMORY,
 * DSL_ERR_INTERNAL keep their meaning). */
#define DSL_ERR_CUDA 10       /* a CUDA runtime call failed (message in dsl_cuda_last_error) */
#define DSL_ERR_NO_DEVICE 11  /* no CUDA device or driver */
#define DSL_ERR_STATE 12      /* download before any decode */

/* Largest max_players the kernels accept (centres are staged in shared memory). */
#define DSL_CUDA_MAX_PLAYERS 4096

typedef struct dsl_cuda_decoder dsl_cuda_decoder;

/* Number of CUDA devices usable by this library (0 when there is no device or driver; never fails). */
int dsl_cuda_available(void);

/* The message of the last error on this thread ("" when none). */
const char* dsl_cuda_last_error(void);

/* Make `device` the calling thread's current CUDA device for this library (which links cudart
 * statically, so its current device is its own, not that of the application's runtime). */
int dsl_cuda_set_device(int32_t device);

/* DSL_DECODE_CUDA_VERSION. */
const char* dsl_cuda_version(void);

/* A decoder for frames of height x width (network input) with seg_stride 1 or 4. Writes *out and
 * returns DSL_OK, or returns an error code (and *out = NULL). params->num_threads is ignored. */
int dsl_cuda_decoder_create(int32_t height, int32_t width, int32_t seg_stride, const dsl_params* params,
                            dsl_cuda_decoder** out);

void dsl_cuda_decoder_destroy(dsl_cuda_decoder* decoder);

/* Enqueue the decode of one frame of device fields on `stream` (a cudaStream_t; NULL: the legacy
 * default stream). Returns once the work is queued; the device outputs below are valid in stream
 * order. A NaN or inf in the fields is reported by dsl_cuda_download (DSL_ERR_NONFINITE). */
int dsl_cuda_decode(dsl_cuda_decoder* decoder, const float* player, const float* offset, const float* pif,
                    void* stream);

/* As dsl_cuda_decode, with host fields: copied into device buffers owned by the decoder (allocated
 * at the first call, reused after). */
int dsl_cuda_decode_host(dsl_cuda_decoder* decoder, const float* player, const float* offset, const float* pif,
                         void* stream);

/* Eq. 3 only (exact: non-zero for the untruncated sum), on device pif; the maps stay on the device
 * (dsl_cuda_device_outputs().fused) and can be copied with dsl_cuda_download_fused. */
int dsl_cuda_fuse(dsl_cuda_decoder* decoder, const float* pif, int32_t exact, void* stream);

/* Synchronise `stream` and copy the last decode's results into `out` (dsl_output of dsl_decode.h):
 * array pointers set by the caller are filled (capacities as in dsl_decode.h), NULL ones are
 * pointed at decoder-owned host buffers, valid until the next call on the decoder. timings_ms holds
 * GPU time per stage from CUDA events (the ball is found with the poses: DSL_STAGE_BALL is 0 and
 * included in DSL_STAGE_POSES, as are the players' filters and final numbering; the NaN/inf check of the
 * fields is counted in DSL_STAGE_FUSE). */
int dsl_cuda_download(dsl_cuda_decoder* decoder, dsl_output* out, void* stream);

/* Synchronise `stream` and copy the fused maps [19 * height * width] of the last decode or fuse. */
int dsl_cuda_download_fused(dsl_cuda_decoder* decoder, float* out, void* stream);

/* Device pointers of the last decode's outputs, valid until the next call on the decoder. The
 * per-player arrays hold the first num_players entries after dsl_cuda_download (or the stream's
 * completion); areas are int32 on the device. */
typedef struct dsl_cuda_device_outputs {
    int32_t* labels;     /* [height * width] */
    float* fused;        /* [19 * height * width] */
    float* keypoints;    /* [max_players * 17 * 3] */
    float* scores;       /* [max_players] */
    float* boxes;        /* [max_players * 4] */
    int32_t* areas;      /* [max_players] */
    float* centers;      /* [max_players * 2] */
} dsl_cuda_device_outputs;

int dsl_cuda_device_outputs_get(const dsl_cuda_decoder* decoder, dsl_cuda_device_outputs* out);

#ifdef __cplusplus
}
#endif

#endif /* DSL_DECODE_CUDA_H */
