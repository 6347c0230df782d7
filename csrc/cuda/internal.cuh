// Internal declarations shared by the CUDA decoder's translation units (not part of the C ABI).
#ifndef DSL_CUDA_INTERNAL_CUH
#define DSL_CUDA_INTERNAL_CUH

#include <cstdint>

#ifdef DSL_CUDA_EMULATE
#include "emulate.h"  // CPU emulation for the tests (see there)
#else
#include <cuda_runtime.h>
// Kernel launches go through this macro so that the CPU emulation can run the same sources.
#define DSL_LAUNCH(kernel, grid, block, shared, stream, ...) kernel<<<grid, block, shared, stream>>>(__VA_ARGS__)
#define DSL_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace dslcuda {

constexpr int kNumTypes = 19;
constexpr int kNumBodyParts = 17;
constexpr int kBall = 17;
constexpr int kCenter = 18;
constexpr int kPifChannels = 5;
// Candidate lists up to this size are ranked in shared memory; longer ones (only with tiny NMS windows
// on noisy maps) fall back to repeated block-wide maxima.
constexpr int kRankInShared = 4096;

// Decoder parameters as the kernels use them (filled from dsl_decode_params at create time).
struct Params {
  float seed_threshold;
  float keypoint_threshold;
  float player_threshold;
  int nms_window;
  float truncate;
  float sigma_min;
  float weight_divisor;
  int exact;
  int max_players;
  int seg_stride;
  int strict;               // the three thresholds compare with '>' (else '>=')
  int disc;                 // support: the disc of radius truncate*sigma (else its square)
  int approx;               // Gaussian: (1 + e/8)^8 on [-2, 2], 0 outside (else the true exp)
  float clamp;              // fused maps clamped at this value; <= 0: no clamp (never in exact mode)
  int own_mask;             // body-part maxima join the player whose mask holds them (else the nearest centre)
  int discard_mask_pixels;  // players with at most this many mask pixels are dropped
  int min_keypoints;        // players with fewer keypoints (the centre counted) are dropped
};

// Frame geometry: full resolution (H, W), segmentation grid (Hs, Ws), PIF grid (Hp, Wp).
struct Geometry {
  int H, W, Hs, Ws, Hp, Wp;
};

// A PIF cell that passed the seed threshold: position, splat value and floored sigma.
struct Seed {
  float x, y, v, s;
};

// Per-frame counters, zeroed by one memset at the start of each frame.
// Bounding boxes keep (W-1-x0, H-1-y0, x1, y1) so that atomicMax from zero gives min and max.
struct Counters {
  int seed_count[kNumTypes];
  int n_candidates;
  int nonfinite;  // bit 0: player, bit 1: offset, bit 2: pif holds NaN or inf
  int padding;
  unsigned long long ball_key;
};

// Device-side result block, copied to the host in one transfer. Arrays are sized by max_players.
struct SummaryHeader {
  int n_players;
  int n_centres;     // centres before the mask and keypoint filters
  int n_candidates;  // centre-map maxima before the max_players cut
  int has_ball;
  float ball_x, ball_y, ball_score;
  int nonfinite;  // as Counters::nonfinite; the frame's outputs are meaningless when non-zero
};

// Offsets (in bytes) of each array inside the result block; computed once per context.
struct ResultLayout {
  size_t scores, centres, boxes, areas, keypoints, total;
  static ResultLayout make(int max_players);
};

// Device scratch of one decoder context (allocated once at create time).
struct Scratch {
  float* fused;                 // [19, H, W]
  Seed* seeds;                  // [19, Hp * Wp]
  Counters* counters;
  unsigned long long* cand;     // [H * W] centre candidates, packed by rank_key
  int* centre_xy;               // [max_players, 2]
  float* centre_score;          // [max_players]
  int* n_centres;               // 1
  int* labels;                  // [H, W] provisional (1 + centre rank) then final labels
  int* inst_count;              // [max_players] mask pixels per centre
  int* inst_box;                // [max_players, 4]
  int* remap;                   // [max_players + 1] provisional label -> final label (0: dropped)
  unsigned long long* pose_key; // [max_players, 17] per centre and body part, packed by pose_key
  unsigned char* result;        // result block (SummaryHeader + arrays)
  size_t zero_bytes;            // bytes from `counters` cleared each frame (counters..pose_key region)
};

// ---- device helpers ----------------------------------------------------------------------------

// The thresholds' comparison: '>' when strict (the authors' rule), else '>='.
__device__ __forceinline__ bool passes(float v, float threshold, int strict) {
  return strict ? v > threshold : v >= threshold;
}

// Ranking key of a non-negative score at a raster index: a larger key is a larger score, and on equal
// scores the EARLIER pixel wins (centre ranking, ball argmax). Never 0 for an index below 2^32 - 1.
__device__ __forceinline__ unsigned long long rank_key(float score, int index) {
  return (static_cast<unsigned long long>(__float_as_uint(score)) << 32) |
         static_cast<unsigned long long>(0xFFFFFFFFu - static_cast<unsigned>(index));
}
__device__ __forceinline__ float key_score(unsigned long long key) {
  return __uint_as_float(static_cast<unsigned>(key >> 32));
}
__device__ __forceinline__ int rank_key_index(unsigned long long key) {
  return static_cast<int>(0xFFFFFFFFu - static_cast<unsigned>(key & 0xFFFFFFFFull));
}

// Keypoint key: a larger score wins, and on equal scores the LATER pixel (the reference keeps the last of
// equal maxima in raster order). index + 1 in the low bits, so 0 means "nothing held" even for a score of 0.
__device__ __forceinline__ unsigned long long pose_key(float score, int index) {
  return (static_cast<unsigned long long>(__float_as_uint(score)) << 32) |
         static_cast<unsigned long long>(static_cast<unsigned>(index) + 1u);
}
__device__ __forceinline__ int pose_key_index(unsigned long long key) {
  return static_cast<int>(static_cast<unsigned>(key & 0xFFFFFFFFull) - 1u);
}

// Local maximum with the contract's tie rule: p must pass the threshold, be at least its earlier (raster
// order) neighbours and above its later ones, within the window clipped at the borders; so of a plateau
// the last pixel in raster order is kept.
__device__ __forceinline__ bool is_local_max(const float* map, int H, int W, int x, int y, int radius,
                                             float threshold, int strict) {
  const float v = map[y * W + x];
  if (!passes(v, threshold, strict)) return false;
  const int y0 = max(y - radius, 0), y1 = min(y + radius, H - 1);
  const int x0 = max(x - radius, 0), x1 = min(x + radius, W - 1);
  for (int yy = y0; yy <= y1; ++yy) {
    for (int xx = x0; xx <= x1; ++xx) {
      const float q = map[yy * W + xx];
      if (yy < y || (yy == y && xx < x)) {
        if (!(v >= q)) return false;
      } else if (yy > y || xx > x) {
        if (!(v > q)) return false;
      }
    }
  }
  return true;
}

// Value of a segmentation-grid channel at full-resolution pixel (x, y): the grid itself at stride 1,
// else bilinear with corners aligned (cell i at pixel stride * i), as decode/fields.upsample computes it
// (the last cell's fraction is 0, so it is copied exactly).
__device__ __forceinline__ float seg_value(const float* chan, const Geometry& g, int stride, int x, int y) {
  if (stride == 1) return chan[y * g.Ws + x];
  const int i0 = min(x / stride, g.Ws - 1), j0 = min(y / stride, g.Hs - 1);
  const int i1 = min(i0 + 1, g.Ws - 1), j1 = min(j0 + 1, g.Hs - 1);
  const float fx = i0 == g.Ws - 1 ? 0.f : static_cast<float>(x % stride) / static_cast<float>(stride);
  const float fy = j0 == g.Hs - 1 ? 0.f : static_cast<float>(y % stride) / static_cast<float>(stride);
  const float top = chan[j0 * g.Ws + i0] * (1.f - fx) + chan[j0 * g.Ws + i1] * fx;
  const float bottom = chan[j1 * g.Ws + i0] * (1.f - fx) + chan[j1 * g.Ws + i1] * fx;
  return top * (1.f - fy) + bottom * fy;
}

// Eq. 4's argmin for pixel (x, y): the centre (index into centres [n, 2], n >= 1) nearest to pixel + offset,
// float32 distances as the reference's; on exact ties the centre first in raster order wins.
__device__ __forceinline__ int nearest_centre(const int* centres, int n, const Geometry& g, int stride,
                                              const float* offset, int x, int y) {
  const size_t plane = static_cast<size_t>(g.Hs) * g.Ws;
  const float qx = static_cast<float>(x) + seg_value(offset, g, stride, x, y);
  const float qy = static_cast<float>(y) + seg_value(offset + plane, g, stride, x, y);
  int best_j = 0, best_index = 0;
  float best = 0.f;
  for (int j = 0; j < n; ++j) {
    const int cx = centres[2 * j], cy = centres[2 * j + 1];
    const float dx = static_cast<float>(cx) - qx;
    const float dy = static_cast<float>(cy) - qy;
    const float d = dx * dx + dy * dy;
    const int index = cy * g.W + cx;
    if (j == 0 || d < best || (d == best && index < best_index)) {
      best = d;
      best_j = j;
      best_index = index;
    }
  }
  return best_j;
}

// ---- stage launchers (each enqueues on `stream`, returns the launch status) ---------------------

cudaError_t launch_check_finite(const Geometry& g, const float* player, const float* offset, const float* pif,
                                Scratch& s, cudaStream_t stream);
cudaError_t launch_fuse(const Params& p, const Geometry& g, const float* pif, Scratch& s, cudaStream_t stream);
cudaError_t launch_centres(const Params& p, const Geometry& g, Scratch& s, cudaStream_t stream);
cudaError_t launch_assign(const Params& p, const Geometry& g, const float* player, const float* offset,
                          Scratch& s, cudaStream_t stream);
cudaError_t launch_poses(const Params& p, const Geometry& g, const float* offset, Scratch& s,
                         const ResultLayout& layout, cudaStream_t stream);

}  // namespace dslcuda

#endif  // DSL_CUDA_INTERNAL_CUH
