// Final labels, poses (per instance and body part the most confident maximum) and the ball (argmax).
#include "internal.cuh"

namespace dslcuda {
namespace {

constexpr int kPixelThreads = 256;

__device__ __forceinline__ unsigned long long max_key(unsigned long long a, unsigned long long b) {
  return a > b ? a : b;
}

// Per pixel: renumber the provisional label, offer the pixel's body-part maxima to its instance, and
// reduce the ball map's argmax per block before one atomic per block.
__global__ void finalize_pixels(Geometry g, Params p, const float* __restrict__ fused, const int* __restrict__ remap,
             int* __restrict__ labels, unsigned long long* __restrict__ pose_key,
             Counters* counters) {
  __shared__ unsigned long long warp_best[kPixelThreads / 32];
  const int pixels = g.H * g.W;
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned long long ball = 0ull;
  if (pix < pixels) {
    const int x = pix % g.W, y = pix / g.W;
    const int label = remap[labels[pix]];
    labels[pix] = label;
    if (label > 0) {
      const int radius = p.nms_window / 2;
      for (int k = 0; k < kNumBodyParts; ++k) {
        const float* map = fused + static_cast<size_t>(k) * pixels;
        // A keypoint must beat the held score strictly, and nothing is held at 0: scores of 0 never count.
        if (map[pix] > 0.f && is_local_max(map, g.H, g.W, x, y, radius, p.keypoint_threshold)) {
          atomicMax(pose_key + static_cast<size_t>(label - 1) * kNumBodyParts + k, pack_key(map[pix], pix));
        }
      }
    }
    const float b = fused[static_cast<size_t>(kBall) * pixels + pix];
    if (b >= 0.f) ball = pack_key(b, pix);  // also keeps NaN out of the packed order
  }
  for (int off = 16; off > 0; off >>= 1) ball = max_key(ball, __shfl_down_sync(0xFFFFFFFFu, ball, off));
  if ((threadIdx.x & 31) == 0) warp_best[threadIdx.x >> 5] = ball;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long best = 0ull;
    for (int w = 0; w < kPixelThreads / 32; ++w) best = max_key(best, warp_best[w]);
    if (best != 0ull) atomicMax(&counters->ball_key, best);
  }
}

// Unpack the keypoint and ball keys into the result block.
__global__ void finish(Geometry g, const unsigned long long* __restrict__ pose_key, const Counters* counters,
             unsigned char* result, ResultLayout layout) {
  SummaryHeader* head = reinterpret_cast<SummaryHeader*>(result);
  float* keypoints = reinterpret_cast<float*>(result + layout.keypoints);
  const int n = head->n_players;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n * kNumBodyParts; i += gridDim.x * blockDim.x) {
    const unsigned long long key = pose_key[i];
    float* kp = keypoints + 3 * static_cast<size_t>(i);
    if (key == 0ull) {
      kp[0] = kp[1] = kp[2] = 0.f;
    } else {
      const int idx = key_index(key);
      kp[0] = static_cast<float>(idx % g.W);
      kp[1] = static_cast<float>(idx / g.W);
      kp[2] = key_score(key);
    }
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const unsigned long long key = counters->ball_key;
    const float score = key_score(key);
    head->n_candidates = counters->n_candidates;
    head->nonfinite = counters->nonfinite;
    head->has_ball = score > 0.f ? 1 : 0;
    head->ball_x = head->has_ball ? static_cast<float>(key_index(key) % g.W) : 0.f;
    head->ball_y = head->has_ball ? static_cast<float>(key_index(key) / g.W) : 0.f;
    head->ball_score = head->has_ball ? score : 0.f;
  }
}

}  // namespace

cudaError_t launch_poses(const Params& p, const Geometry& g, Scratch& s, const ResultLayout& layout,
             cudaStream_t stream) {
  const int pixels = g.H * g.W;
  DSL_LAUNCH(finalize_pixels, (pixels + kPixelThreads - 1) / kPixelThreads, kPixelThreads, 0, stream,
             g, p, s.fused, s.remap, s.labels, s.pose_key, s.counters);
  const int entries = p.max_players * kNumBodyParts;
  DSL_LAUNCH(finish, (entries + kPixelThreads - 1) / kPixelThreads, kPixelThreads, 0, stream, g, s.pose_key, s.counters,
             s.result, layout);
  return cudaGetLastError();
}

}  // namespace dslcuda
