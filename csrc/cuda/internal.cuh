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
  int n_centres;     // centres before dropping empty instances
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
  unsigned long long* cand;     // [H * W] centre candidates, packed (score, inverted index)
  int* centre_xy;               // [max_players, 2]
  float* centre_score;          // [max_players]
  int* n_centres;               // 1
  int* labels;                  // [H, W] provisional then final labels
  int* inst_count;              // [max_players]
  int* inst_box;                // [max_players, 4]
  int* remap;                   // [max_players + 1]
  unsigned long long* pose_key; // [max_players, 17]
  unsigned char* result;        // result block (SummaryHeader + arrays)
  size_t zero_bytes;            // bytes from `counters` cleared each frame (counters..pose_key region)
};

// ---- device helpers ----------------------------------------------------------------------------

// Pack a non-negative score with an inverted raster index: a larger key is a larger score, and on
// equal scores the earlier pixel (the one the reference keeps) wins.
__device__ __forceinline__ unsigned long long pack_key(float score, int index) {
  return (static_cast<unsigned long long>(__float_as_uint(score)) << 32) |
         static_cast<unsigned long long>(0xFFFFFFFFu - static_cast<unsigned>(index));
}
__device__ __forceinline__ float key_score(unsigned long long key) {
  return __uint_as_float(static_cast<unsigned>(key >> 32));
}
__device__ __forceinline__ int key_index(unsigned long long key) {
  return static_cast<int>(0xFFFFFFFFu - static_cast<unsigned>(key & 0xFFFFFFFFull));
}

// Local maximum with the contract's tie rule: p must be strictly above earlier (raster order)
// neighbours and at least equal to later ones, within the window clipped at the borders.
__device__ __forceinline__ bool is_local_max(const float* map, int H, int W, int x, int y, int radius,
                                             float threshold) {
  const float v = map[y * W + x];
  if (!(v >= threshold)) return false;
  const int y0 = max(y - radius, 0), y1 = min(y + radius, H - 1);
  const int x0 = max(x - radius, 0), x1 = min(x + radius, W - 1);
  for (int yy = y0; yy <= y1; ++yy) {
    for (int xx = x0; xx <= x1; ++xx) {
      const float q = map[yy * W + xx];
      const bool earlier = yy < y || (yy == y && xx < x);
      if (earlier ? (q >= v) : (q > v && !(yy == y && xx == x))) return false;
    }
  }
  return true;
}

// ---- stage launchers (each enqueues on `stream`, returns the launch status) ---------------------

cudaError_t launch_check_finite(const Geometry& g, const float* player, const float* offset, const float* pif,
                                Scratch& s, cudaStream_t stream);
cudaError_t launch_fuse(const Params& p, const Geometry& g, const float* pif, Scratch& s, cudaStream_t stream);
cudaError_t launch_centres(const Params& p, const Geometry& g, Scratch& s, cudaStream_t stream);
cudaError_t launch_assign(const Params& p, const Geometry& g, const float* player, const float* offset,
                          Scratch& s, const ResultLayout& layout, cudaStream_t stream);
cudaError_t launch_poses(const Params& p, const Geometry& g, Scratch& s, const ResultLayout& layout,
                         cudaStream_t stream);

}  // namespace dslcuda

#endif  // DSL_CUDA_INTERNAL_CUH
