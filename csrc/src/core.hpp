// Internal C++ side of the decoder: scratch state and the stage functions behind dsl_decode.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dsl_decode.h"

// Hot loops get an AVX2 clone chosen at load time (GCC/Clang on x86-64 ELF); elsewhere plain code.
#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(DSL_NO_CLONES)
#define DSL_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DSL_SIMD_CLONES
#endif

// Hand-written AVX2 kernels (intrinsics in target("avx2") functions) next to plain C++ ones; x86-64 only.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(DSL_NO_CLONES)
#include <immintrin.h>
#define DSL_AVX2_KERNEL 1
#else
#define DSL_AVX2_KERNEL 0
#endif

namespace dsl {

// True when the AVX2 kernels run: built with them, the CPU has AVX2, and DSL_DECODE_PLAIN is unset or "0"
// (the tests set it to check that the plain kernels give the same results).
bool use_avx2();

// A rectangle [x0, x1) x [y0, y1) of one fused map that a splat wrote.
struct Rect {
    int32_t x0, y0, x1, y1;
};

// Thrown inside the core, turned into a status + message at the C boundary.
struct Error {
    int status;
    std::string message;
};

// Per-frame-size scratch, allocated once and reused; the fused maps are kept zero outside `dirty` (rectangles
// that cover every pixel the last fusion wrote, some zero pixels too).
struct Scratch {
    int32_t height = 0, width = 0;
    std::vector<float> fused;                 // [19, H, W]
    std::vector<int32_t> seeds[DSL_NUM_TYPES];  // grid cells at or above seed_threshold (check_pif)
    std::vector<Rect> dirty[DSL_NUM_TYPES];   // rectangles written by the last fusion, cleared by the next
    bool dense[DSL_NUM_TYPES] = {};           // the last fusion wrote the whole map (exact mode)
    std::vector<float> ex[DSL_NUM_TYPES];     // 1-D Gaussian factors along x, per type (threads)
    std::vector<float> ey[DSL_NUM_TYPES];
    std::vector<int32_t> candidates[DSL_NUM_TYPES];  // pixels >= keypoint threshold (listed by the fusion)
    std::vector<int32_t> cand_buf[DSL_NUM_TYPES];    // the fusion's append buffer (grows, never shrinks)
    std::vector<int32_t> maxima;              // centre maxima, ranked by score
    std::vector<float> center_x, center_y, center_score;  // the centres kept by score, in raster order
    std::vector<int32_t> kept;                // centres that pass the filters, by score descending
    std::vector<int32_t> fg;                  // raster indices of player pixels
    std::vector<int32_t> fg_y;                // their rows
    std::vector<int32_t> kp_index;            // per centre and body part: raster index of the held keypoint
    std::vector<float> kp_centre;             // per centre and body part: (x, y, score) before the filters
    std::vector<int32_t> fg_label;            // their 0-based centre index
    std::vector<int32_t> labels;              // decoder-owned label output
    std::vector<float> keypoints, scores, boxes, centers;
    std::vector<int64_t> areas;
    std::vector<int64_t> count;               // per centre
    std::vector<int32_t> box;                 // per centre x0, y0, x1, y1 (inclusive)
    std::vector<int32_t> lut;                 // old centre index -> new label

    void resize(int32_t h, int32_t w, int32_t max_players);
    float* map(int k) { return fused.data() + static_cast<size_t>(k) * height * width; }
};

// Bit 0: some of the kChunk values at v are >= thr; bit 1: some is NaN or inf (scans of mostly-empty maps).
constexpr int32_t kChunk = 16;
int chunk_flags(const float* v, float thr);

// Checks the pif values the fusion reads (throws Error on NaN/inf) and lists each type's seeds (grid cells at
// or above seed_threshold, raster order) in s.seeds; returns their number, which sizes the fusion's work.
int64_t check_pif(Scratch& s, const float* pif, int32_t hp, int32_t wp, const dsl_params& p);

// Below these amounts of work a second OpenMP thread costs more than it saves (fork/join and barrier waits,
// worse on a shared machine where the other core is busy), so the regions run on the calling thread.
constexpr int64_t kParallelSeeds = 8192;              // truncated splats over all types
constexpr int64_t kParallelDistances = int64_t(1) << 23;  // Eq. 4: player pixels x centres
constexpr int64_t kParallelCandidates = int64_t(1) << 20; // poses: listed pixels (exact mode: always)

// Eq. 3 into scratch.fused from the seeds check_pif listed.
void fuse_all(Scratch& s, const float* pif, int32_t hp, int32_t wp, const dsl_params& p, bool exact, int64_t seeds);

// Unique pixels of map k that pass the keypoint threshold, in no particular order (call once per fusion).
void collect_candidates(Scratch& s, int k, const dsl_params& p);
// True when pixel idx of map m is the maximum of its window (the last in raster order wins ties).
bool is_local_max(const float* m, int32_t h, int32_t w, int32_t idx, int32_t radius);

// Eq. 4 over player pixels: per-centre counts and boxes in s.count and s.box, each pixel's centre index in
// s.fg_label; labels zeroed, and with own-mask keypoints set to 1 + the centre index on player pixels.
void assign_labels(Scratch& s, const float* player, const float* offset, const float* cx, const float* cy,
                   int32_t n_centers, const dsl_params& p, int32_t* labels);
// Eq. 4's argmin for one pixel (any pixel, player or not), with the arithmetic of assign_labels; -1 when its
// offset is not finite.
int32_t nearest_center(const float* offset, int32_t h, int32_t w, int32_t idx, const float* cx, const float* cy,
                       int32_t n_centers);
// labels of the player pixels of the last assign_labels become lut[centre index] (0: dropped).
void relabel(Scratch& s, const int32_t* lut, int32_t* labels);

}  // namespace dsl
