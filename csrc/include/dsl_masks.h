/*
 * dsl_masks.h: plain C ABI for players' masks at frame resolution, straight from the decoder's
 * network-resolution label map and the letterbox (docs/architecture.md, "Runtime").
 *
 * The frame label map is never built: per player, the COCO run-length encoding (column-major run
 * lengths, starting with a run of zeros) of its mask at frame resolution, and its area in frame
 * pixels, are computed from the label map's letterboxed content. Frame pixel (x, y) takes the
 * content pixel nearest to its centre: column floor((x + 0.5) * crop_width / frame_width), computed
 * exactly in integers (row likewise). OpenCV's INTER_NEAREST_EXACT resize gives the same map except
 * where a frame pixel centre falls exactly between two content pixels, which needs a content size
 * with more factors of two than the frame size (never for odd content sizes such as 641 or 361).
 *
 * Arrays are dense, C-contiguous, indexed [y, x]. Thread safety: one dsl_masks per thread; the
 * error message of dsl_masks_last_error() is per thread.
 */
#ifndef DSL_MASKS_H
#define DSL_MASKS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSL_MASKS_VERSION "1.0.0"
#define DSL_MASKS_MAX_SIDE 65535          /* largest frame or label-map side accepted */
#define DSL_MASKS_MAX_PLAYERS (1 << 20)

typedef enum dsl_masks_status {
    DSL_MASKS_OK = 0,
    DSL_MASKS_ERR_ARGUMENT = 1,           /* NULL pointer, bad size, or a label outside 0..num_players */
    DSL_MASKS_ERR_MEMORY = 3
} dsl_masks_status;

/* Where the frame sits in the label map: the content rectangle (the letterbox without its padding). */
typedef struct dsl_letterbox {
    int32_t frame_width, frame_height;    /* the frame the masks are wanted at */
    int32_t crop_x, crop_y;               /* top-left of the content in the label map (the padding) */
    int32_t crop_width, crop_height;      /* content size in the label map (inside it) */
    /* Optional sampling tables (NULL: the exact pixel-centre rule above): the content column of each
     * frame column [frame_width] and the content row of each frame row [frame_height], each
     * non-decreasing and inside the content. dsl_deploy passes OpenCV's, so that the masks equal its
     * INTER_NEAREST_EXACT resize everywhere, ties included, whatever OpenCV version is installed. */
    const int32_t* columns;
    const int32_t* rows;
} dsl_letterbox;

/* Per-player RLE at frame resolution; arrays owned by the dsl_masks, valid until its next call. */
typedef struct dsl_rle {
    int32_t num_players;
    int32_t height, width;                /* the frame (COCO "size": [height, width]) */
    const uint32_t* counts;               /* every player's run lengths, one after another */
    const int64_t* offsets;               /* [num_players + 1]: player i is counts[offsets[i] .. offsets[i + 1]) */
    const int64_t* areas;                 /* [num_players]: mask pixels in the frame */
} dsl_rle;

typedef struct dsl_masks dsl_masks;

/* New scratch (grown on demand, reused between calls), or NULL when memory is short. */
dsl_masks* dsl_masks_create(void);

void dsl_masks_destroy(dsl_masks* masks);

/*
 * RLE and area of players 1..num_players of `labels` [height * width] (0: background) at frame
 * resolution. A label read outside 0..num_players is an error naming its position.
 */
int dsl_masks_rle(dsl_masks* masks, const int32_t* labels, int32_t height, int32_t width,
                  int32_t num_players, const dsl_letterbox* letterbox, dsl_rle* out);

/* The frame label map [frame_height * frame_width] itself (same sampling), written to out. */
int dsl_masks_frame_labels(const int32_t* labels, int32_t height, int32_t width,
                           const dsl_letterbox* letterbox, int32_t* out);

/*
 * COCO's compressed RLE string of `n` run lengths (pycocotools' encoding), NUL-terminated when it
 * fits. Returns the string's length (without the NUL); it fits when that is < capacity, and never
 * exceeds 7 * n. Returns -1 on a NULL pointer or a negative n.
 */
int64_t dsl_masks_rle_string(const uint32_t* counts, int64_t n, char* out, int64_t capacity);

/* The message of the last error on this thread ("" when none). */
const char* dsl_masks_last_error(void);

const char* dsl_masks_version(void);

#ifdef __cplusplus
}
#endif

#endif /* DSL_MASKS_H */
